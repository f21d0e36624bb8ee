"""Gripper width <-> finger joints (ROS-free), for robot sides that speak finger joints.

The stack speaks one ``gripper`` DoF per arm, the opening WIDTH in metres (``RobotConfig``:
Franka 0..0.08 total). gz_ros2_control (and franka_ros2's joint_state_broadcaster) instead
report the two finger joints (each = width / 2 for the Franka Hand) and a forward position
controller on ``panda_finger_joint1`` takes one finger position. ``GripperWidthMap`` converts
both ways, so the stack runs unchanged: it adds the ``gripper`` entry to joint states, and turns
a width command into the finger controller's command.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GripperWidthConfig:
    gripper_name: str = "gripper"
    finger_joints: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
    finger_per_width: float = 0.5      # one finger's position per metre of width
    width_min_m: float = 0.0
    width_max_m: float = 0.08

    def __post_init__(self):
        object.__setattr__(self, "finger_joints", tuple(self.finger_joints))
        if not self.gripper_name or not self.finger_joints:
            raise ValueError("gripper_name and finger_joints must not be empty")
        if self.gripper_name in self.finger_joints:
            raise ValueError("gripper_name must differ from the finger joint names")
        if not (self.finger_per_width > 0 and math.isfinite(self.finger_per_width)):
            raise ValueError("finger_per_width must be finite and > 0")
        if not (0.0 <= self.width_min_m < self.width_max_m and math.isfinite(self.width_max_m)):
            raise ValueError("need 0 <= width_min_m < width_max_m")

    @staticmethod
    def from_gripper(gripper, finger_per_width: float = 0.5) -> "GripperWidthConfig":
        """From a ``vla_common.config.GripperConfig`` (names and range from config/robots)."""
        return GripperWidthConfig(gripper.name, tuple(gripper.joints), finger_per_width,
                                  gripper.width_min_m, gripper.width_max_m)


class GripperWidthMap:
    """Converts joint states and commands between finger joints and the width DoF."""

    def __init__(self, config: GripperWidthConfig = GripperWidthConfig()):
        self.config = config
        self._idx: dict[tuple, list[int] | None] = {}

    def width_of(self, names, positions) -> tuple[float | None, str]:
        """Width (m) from a joint state's finger positions: (width, "") or (None, reason).

        The width is the mean finger position / ``finger_per_width`` (two mimic fingers agree;
        if they do not, the mean is the best single value).
        """
        key = tuple(names)
        idx = self._idx.get(key, False)
        if idx is False:
            pos = {n: i for i, n in enumerate(key)}
            idx = None if any(f not in pos for f in self.config.finger_joints) else \
                [pos[f] for f in self.config.finger_joints]
            self._idx[key] = idx
        if idx is None:
            return None, f"joint state lacks finger joints {list(self.config.finger_joints)}"
        p = np.asarray(positions, dtype=np.float64)
        if p.shape[0] != len(key):
            return None, f"joint state has {len(key)} names but {p.shape[0]} positions"
        f = p[idx]
        if not np.all(np.isfinite(f)):
            return None, "finger position is NaN/inf"
        return float(np.mean(f)) / self.config.finger_per_width, ""

    def add_width(self, names, positions, velocities=(), efforts=()):
        """The joint state with a ``gripper`` entry appended (width; its rate; no effort).

        Returns:
            (names, positions, velocities, efforts) lists, or None plus the reason when the
            fingers are missing or not finite (the state is then not forwarded: a stack that
            sees no joint state stops sending commands, which is safe; a wrong width is not).
        """
        w, why = self.width_of(names, positions)
        if w is None:
            return None, why
        n = len(names)
        names_out = [*names, self.config.gripper_name]
        pos = [*map(float, positions), w]
        vel = list(map(float, velocities))
        if len(vel) == n:
            vw, _ = self.width_of(names, vel)
            vel.append(0.0 if vw is None else vw)
        eff = list(map(float, efforts))
        if len(eff) == n:
            eff.append(0.0)
        return (names_out, pos, vel, eff), ""

    def finger_command(self, values) -> tuple[list[float] | None, str]:
        """A width command (one value, m) -> the finger controller's command (one finger, m).

        The width is clipped to [width_min_m, width_max_m] like the real hand's range; a
        command of the wrong length or with NaN/inf is rejected with the reason.
        """
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.shape[0] != 1:
            return None, f"gripper width command has {v.shape[0]} values, expected 1"
        if not np.isfinite(v[0]):
            return None, "gripper width command is NaN/inf"
        c = self.config
        w = min(max(float(v[0]), c.width_min_m), c.width_max_m)
        return [w * c.finger_per_width], ""
