"""Franka URDF for Gazebo (gz sim) with gz_ros2_control, built from example-robot-data's URDF
(ROS-free; used by launch/gazebo.launch.py, testable without Gazebo).

Adds: a world link, a ``ros2_control`` block using ``gz_ros2_control/GazeboSimSystem`` with
position command interfaces on panda_joint1..7 and panda_finger_joint1 (finger 2 mimics it),
the ``gz_ros2_control-system`` plugin pointing at the controllers file, and the scene + wrist
cameras as gz sensors whose topics ros_gz_bridge maps to /camera/<cam>/image_raw.
"""
from __future__ import annotations

import os
from pathlib import Path

from vla_sim.scenes.common import require_file
from vla_sim.scenes.franka import ARM_JOINTS, SCENE_CAM_POS, panda_description_dir

CAMERA_RATE_HZ = 10
CAMERA_PX = 128


def _camera_sensor(name: str, link: str) -> str:
    return f"""
  <gazebo reference="{link}">
    <sensor name="{name}_camera" type="camera">
      <update_rate>{CAMERA_RATE_HZ}</update_rate>
      <topic>/camera/{name}/image_raw</topic>
      <camera><horizontal_fov>1.0</horizontal_fov>
        <image><width>{CAMERA_PX}</width><height>{CAMERA_PX}</height><format>R8G8B8</format></image>
        <camera_info_topic>/camera/{name}/camera_info</camera_info_topic>
      </camera>
    </sensor>
  </gazebo>"""


def build_gazebo_urdf(controllers_yaml: str | os.PathLike, urdf_path: str | os.PathLike | None = None) -> str:
    """URDF string for gz sim + gz_ros2_control.

    Args:
        controllers_yaml: ROS params file with the ``controller_manager`` section
            (config/franka_gazebo.yaml).
        urdf_path: the Panda URDF (default: example-robot-data's).
    Raises:
        ModelFileError: the URDF is missing.
    """
    desc = panda_description_dir()
    urdf = Path(urdf_path) if urdf_path else desc / "urdf" / "panda.urdf"
    text = require_file(urdf, "Franka URDF (pip package example-robot-data)").read_text()
    # Gazebo reads .dae, but not package:// of a package it cannot resolve: absolute file URIs.
    text = text.replace("package://example-robot-data/robots/panda_description", f"file://{desc}")
    joints = "".join(f"""
    <joint name="{j}">
      <command_interface name="position"/>
      <state_interface name="position"/><state_interface name="velocity"/><state_interface name="effort"/>
    </joint>""" for j in ARM_JOINTS)
    cx, cy, cz = SCENE_CAM_POS
    extra = f"""
  <link name="world"/>
  <joint name="world_to_base" type="fixed"><parent link="world"/><child link="panda_link0"/></joint>
  <link name="scene_camera_link"/>
  <joint name="world_to_scene_camera" type="fixed"><parent link="world"/><child link="scene_camera_link"/>
    <origin xyz="{cx} {cy} {cz}" rpy="0 0.6 3.14159"/></joint>
  <ros2_control name="FrankaGazebo" type="system">
    <hardware><plugin>gz_ros2_control/GazeboSimSystem</plugin></hardware>{joints}
    <joint name="panda_finger_joint1">
      <command_interface name="position"/>
      <state_interface name="position"/><state_interface name="velocity"/>
    </joint>
    <joint name="panda_finger_joint2">
      <param name="mimic">panda_finger_joint1</param><param name="multiplier">1</param>
      <state_interface name="position"/>
    </joint>
  </ros2_control>
  <gazebo>
    <plugin filename="gz_ros2_control-system" name="gz_ros2_control::GazeboSimROS2ControlPlugin">
      <parameters>{Path(controllers_yaml).resolve()}</parameters>
    </plugin>
  </gazebo>{_camera_sensor("scene", "scene_camera_link")}{_camera_sensor("wrist", "panda_hand")}
</robot>"""
    head, _, _ = text.rpartition("</robot>")
    return head + extra
