"""ros2 launch: the VLA stack against Gazebo (gz sim) + gz_ros2_control instead of vla_sim.

    ros2 launch launch/gazebo.launch.py robot:=franka

Needs a ROS 2 distro with ros_gz_sim, ros_gz_bridge, gz_ros2_control, controller_manager and
forward_command_controller (not available on the pip-only machines; see docs/SIM.md).
Starts: gz sim with an empty world, the Franka (URDF from example-robot-data + ros2_control
block, vla_sim.gazebo_description), the controller spawners (joint_state_broadcaster,
arm_position_controller, gripper_finger_controller), vla_gripper_adapter (the gripper width on
the same topics as vla_sim), a /clock and camera bridge, and the stack's robot-side-agnostic nodes (the `hw` node set: everything but
vla_sim) with config/<robot>_gazebo.yaml.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from vla_common.stack import load_stack, params_file
from vla_sim.gazebo_description import build_gazebo_urdf


def _setup(context):
    robot = LaunchConfiguration("robot").perform(context)
    config_dir = LaunchConfiguration("config_dir").perform(context) or None
    if robot != "franka":
        raise RuntimeError("gazebo.launch.py: only robot:=franka has a Gazebo description")
    params = str(params_file(robot, "gazebo", config_dir))
    urdf = build_gazebo_urdf(params)
    gz = IncludeLaunchDescription(
        PythonLaunchDescriptionSource([FindPackageShare("ros_gz_sim").perform(context),
                                       "/launch/gz_sim.launch.py"]),
        launch_arguments={"gz_args": f"-r {LaunchConfiguration('world').perform(context)}"}.items())
    rsp = Node(package="robot_state_publisher", executable="robot_state_publisher",
               parameters=[{"robot_description": urdf, "use_sim_time": True}])
    spawn = Node(package="ros_gz_sim", executable="create",
                 arguments=["-topic", "robot_description", "-name", robot])
    bridge = Node(package="ros_gz_bridge", executable="parameter_bridge", arguments=[
        "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock",
        "/camera/scene/image_raw@sensor_msgs/msg/Image[gz.msgs.Image",
        "/camera/scene/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo",
        "/camera/wrist/image_raw@sensor_msgs/msg/Image[gz.msgs.Image",
        "/camera/wrist/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo"])
    spawners = [Node(package="controller_manager", executable="spawner", arguments=[c])
                for c in ("joint_state_broadcaster", "arm_position_controller",
                          "gripper_finger_controller")]
    # the gripper as a width, as the stack speaks it (finger joints on the gz side)
    adapter = Node(package="vla_sim", executable="gripper_adapter_node", name="vla_gripper_adapter",
                   parameters=[params], output="screen", emulate_tty=True)
    stack = [Node(package=spec.package, executable=spec.executable, name=spec.name,
                  parameters=[params], output="screen", emulate_tty=True,
                  respawn=spec.respawn, respawn_delay=spec.respawn_delay_s)
             for spec in load_stack("hw", config_dir)]
    return [gz, rsp, spawn, bridge, *spawners, adapter, *stack]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="franka", description="franka"),
        DeclareLaunchArgument("world", default_value="empty.sdf", description="gz world file"),
        DeclareLaunchArgument("config_dir", default_value="", description="override config dir"),
        OpaqueFunction(function=_setup),
    ])
