"""Action spaces the controller accepts on ``topics.action`` (ROS-free).

Every space is per arm, followed by that arm's gripper opening (metres, absolute, as in
``RobotConfig.command_names``). ``action_names(robot_cfg, space)`` gives the exact
``ActionStep.names`` (order matters only for the expert; the controller matches by name).

| space | per arm values | names |
|---|---|---|
| ``joint_position`` (default) | absolute joint positions, rad | ``<joint>`` |
| ``joint_delta`` | joint position offsets, rad, added to the measured position at arrival | ``<joint>_delta`` |
| ``ee_pose`` | ee position (m) + rotation vector (axis * angle, rad), world/base frame | ``<arm>_ee_x,_y,_z,_rx,_ry,_rz`` |
| ``ee_delta`` | ee translation (m) + rotation vector (rad), world axes, applied to the measured ee pose at arrival: p = p_meas + dp, R = Exp(dr) R_meas | ``<arm>_ee_dx,_dy,_dz,_drx,_dry,_drz`` |

Gripper entries keep the gripper's own name and are always absolute openings.
"""
from __future__ import annotations

from vla_common.config import RobotConfig

JOINT_POSITION = "joint_position"
JOINT_DELTA = "joint_delta"
EE_POSE = "ee_pose"
EE_DELTA = "ee_delta"
SPACES = (JOINT_POSITION, JOINT_DELTA, EE_POSE, EE_DELTA)
DEFAULT_SPACE = JOINT_POSITION

EE_POSE_SUFFIXES = ("ee_x", "ee_y", "ee_z", "ee_rx", "ee_ry", "ee_rz")
EE_DELTA_SUFFIXES = ("ee_dx", "ee_dy", "ee_dz", "ee_drx", "ee_dry", "ee_drz")


def check_space(space: str) -> str:
    """Return ``space`` if known.

    Raises:
        ValueError: unknown action space (the message lists the known ones).
    """
    if space not in SPACES:
        raise ValueError(f"unknown action space '{space}'; known: {SPACES}")
    return space


def arm_action_names(robot_cfg: RobotConfig, space: str, arm_name: str) -> tuple[str, ...]:
    """Names of one arm's entries (without its gripper) in ``space``.

    Raises:
        ValueError: unknown space. KeyError: unknown arm.
    """
    check_space(space)
    arms = {a.name: a for a in robot_cfg.arms}
    if arm_name not in arms:
        raise KeyError(f"unknown arm '{arm_name}'; known: {tuple(arms)}")
    a = arms[arm_name]
    if space == JOINT_POSITION:
        return tuple(a.joints)
    if space == JOINT_DELTA:
        return tuple(f"{j}_delta" for j in a.joints)
    suffixes = EE_POSE_SUFFIXES if space == EE_POSE else EE_DELTA_SUFFIXES
    return tuple(f"{a.name}_{s}" for s in suffixes)


def action_names(robot_cfg: RobotConfig, space: str = DEFAULT_SPACE) -> tuple[str, ...]:
    """``ActionStep.names`` for ``space``: per arm its entries, then its gripper.

    For ``joint_position`` this equals ``robot_cfg.command_names``.

    Raises:
        ValueError: unknown space.
    """
    out: list[str] = []
    for a in robot_cfg.arms:
        out += arm_action_names(robot_cfg, space, a.name)
        if a.gripper is not None:
            out.append(a.gripper.name)
    return tuple(out)


def action_dim(robot_cfg: RobotConfig, space: str = DEFAULT_SPACE) -> int:
    """Number of values per action in ``space``."""
    return len(action_names(robot_cfg, space))
