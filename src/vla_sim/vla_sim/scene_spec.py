"""What the simulator needs to know about a compiled robot scene (ROS-free)."""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np


@dataclass(frozen=True)
class GripperSpec:
    """A parallel gripper commanded by its opening (config units, metres).

    finger qpos_i = width * qpos_per_width_i (width = mean of qpos_i / qpos_per_width_i);
    actuator ctrl = width * ctrl_per_width.
    """
    name: str
    joints: tuple[str, ...]       # MJCF finger joints
    actuator: str                 # MJCF position actuator
    qpos_per_width: tuple[float, ...]
    ctrl_per_width: float
    width_min_m: float
    width_max_m: float
    speed_max_m_s: float


@dataclass(frozen=True, eq=False)
class SceneSpec:
    """A compiled scene plus the mapping from config names to MJCF names and the arm PD gains."""
    model: mujoco.MjModel
    arm_joints: tuple[str, ...]          # config names, command order
    arm_mj_joints: tuple[str, ...]       # MJCF joint per config joint
    arm_actuators: tuple[str, ...]       # MJCF motor per config joint
    kp: np.ndarray                       # N m/rad, per arm joint
    kd: np.ndarray                       # N m s/rad, per arm joint
    grippers: tuple[GripperSpec, ...]
    cameras: dict[str, str]              # config camera name -> MJCF camera
    tcp_sites: dict[str, str]            # arm name -> MJCF site at the tool centre point
    home_q: np.ndarray                   # arm joints, config order
    command_names: tuple[str, ...]       # arm joints and grippers, config command order
    arm_of_joint: dict[str, str] = field(default_factory=dict)
    vel_max_rad_s: np.ndarray | None = None  # arm joints, config order (robot config limits)
