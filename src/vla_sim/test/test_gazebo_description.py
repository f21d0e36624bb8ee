"""Gazebo files (cannot run here): the URDF is well formed and the controller names match the
robot config's gazebo interfaces, so the stack talks to the same topics as with vla_sim."""
import ast
import xml.etree.ElementTree as ET

import yaml

from vla_common.config import find_config_dir, load_robot_config
from vla_sim.gazebo_description import build_gazebo_urdf


def test_gazebo_urdf_has_ros2_control_plugin_joints_and_cameras():
    params = find_config_dir() / "franka_gazebo.yaml"
    root = ET.fromstring(build_gazebo_urdf(params))
    rc = root.find("ros2_control")
    assert rc.find("hardware/plugin").text == "gz_ros2_control/GazeboSimSystem"
    commanded = [j.get("name") for j in rc.findall("joint") if j.find("command_interface") is not None]
    assert commanded == [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1"]
    plugin = root.find("gazebo/plugin")
    assert plugin.get("filename") == "gz_ros2_control-system"
    assert plugin.find("parameters").text == str(params.resolve())
    topics = {s.find("topic").text for s in root.iter("sensor")}
    assert topics == {"/camera/scene/image_raw", "/camera/wrist/image_raw"}
    assert "package://" not in ET.tostring(root, encoding="unicode")


def test_gazebo_controllers_match_robot_config_topics():
    """Every stack command topic is a gz controller of that name and interface, or the gripper
    width topic that vla_gripper_adapter turns into the finger controller's commands."""
    cfg = load_robot_config("franka", "gazebo")
    params = yaml.safe_load((find_config_dir() / "franka_gazebo.yaml").read_text())
    declared = set(params["controller_manager"]["ros__parameters"]) - {"update_rate", "use_sim_time"}
    adapter = params["vla_gripper_adapter"]["ros__parameters"]
    for out in cfg.interfaces.command_outputs:
        name = out.topic.strip("/").split("/")[0]
        if out.joints == ("gripper",):  # served by the adapter
            assert name not in declared
            name = adapter["finger_commands_out"].strip("/").split("/")[0]
            assert params[name]["ros__parameters"]["joints"] == ["panda_finger_joint1"]
        assert name in declared
        assert params[name]["ros__parameters"]["interface_name"] == out.interface
    sim = load_robot_config("franka", "sim")
    assert [o.topic for o in sim.interfaces.command_outputs] == [o.topic for o in cfg.interfaces.command_outputs]
    assert sim.interfaces.joint_states == cfg.interfaces.joint_states
    # the broadcaster publishes into its own namespace, where the adapter reads
    assert params["joint_state_broadcaster"]["ros__parameters"]["use_local_topics"] is True
    assert adapter["joint_states_in"] == "/joint_state_broadcaster/joint_states"


def test_gazebo_launch_file_is_valid_python():
    path = find_config_dir().parent / "launch" / "gazebo.launch.py"
    ast.parse(path.read_text())
