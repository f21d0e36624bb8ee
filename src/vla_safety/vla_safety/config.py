"""Frozen configuration of the safety supervisor (ROS-free); every field is a ROS parameter."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from vla_safety.limits import DofLimits

# libfranka joint impedance example gains (published example values), used for effort-mode hold
_K_FRANKA = (600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0)
_D_FRANKA = (50.0, 50.0, 50.0, 20.0, 20.0, 20.0, 10.0)


@dataclass(frozen=True)
class SupervisorConfig:
    """Every threshold of the gate. Times in sim seconds when ``use_sim_time``."""
    control_period_s: float = 0.002           # controller rate: limiter step and hold publish rate
    pos_margin_rad: float = 0.02              # commands are kept this far inside the hard limits
    measured_pos_tolerance_rad: float = 0.05  # measured beyond hard limits by more -> STOP
    measured_vel_stop_ratio: float = 1.5      # measured |v| > ratio * limit -> STOP
    jump_hold_ratio: float = 2.0              # command-stream |v| > ratio * limit (a jump) -> HOLD
    effort_hold_ratio: float = 1.5            # |effort| > ratio * limit -> HOLD; between 1 and it: clamp
    gripper_acc_max_m_s2: float = 2.0
    gripper_jerk_max_m_s3: float = 200.0
    command_timeout_s: float = 0.05           # controller command silent -> HOLD
    command_max_age_s: float = 0.1            # command header stamp older than this -> reject, HOLD
    future_tolerance_s: float = 0.02          # stamp ahead of our clock by more -> reject, HOLD (clocks of
                                              # two nodes under sim time differ by a few /clock steps)
    joint_states_timeout_s: float = 0.05      # /joint_states silent -> STOP
    action_timeout_s: float = 0.25            # System 1 /vla/action silent -> HOLD
    latent_timeout_s: float = 1.0             # System 2 latent older than this -> DEGRADED
    latent_grace_s: float = 0.32              # S1 finishes its chunk at full speed for this long
    slowdown_s: float = 0.5                   # then the speed scale ramps to 0 over this -> HOLD
    heartbeat_timeout_s: float = 1.5
    watched_nodes: tuple[str, ...] = ()       # /diagnostics status names that must stay alive
    hold_decel_fraction: float = 0.5          # HOLD brakes with this fraction of acc_max
    stop_decel_fraction: float = 1.0          # STOPPED / ESTOP brake with this fraction
    geometry_enabled: bool = True             # geofence, table plane, collision (needs a model)
    # end-effector box per arm, base frame: 3 values (every arm) or 3 per arm in config arm order
    workspace_min_m: tuple[float, ...] = (-0.9, -0.9, -0.05)
    workspace_max_m: tuple[float, ...] = (0.9, 0.9, 1.2)
    table_z_m: float = 0.0                    # table top in the base frame
    ee_table_margin_m: float = 0.005          # lowest finger point below table + margin -> STOP
    # virtual wall: a command whose finger tips are at most this far below table + margin is
    # projected back onto that plane (arm joints only; WARN TABLE_WALL, counted as clamped);
    # deeper commands are not projected and STOP (TABLE_PLANE). 0 = no wall, every one STOPs.
    table_wall_depth_m: float = 0.03
    self_slow_distance_m: float = 0.03
    self_stop_distance_m: float = 0.005
    env_slow_distance_m: float = 0.04
    env_stop_distance_m: float = 0.005
    collision_period_s: float = 0.02          # slow check rate (node: own callback group)
    collision_timeout_s: float = 0.5          # no collision result for this long -> HOLD
    hold_stiffness: tuple[float, ...] = _K_FRANKA   # effort-mode hold, arm joints in order
    hold_damping: tuple[float, ...] = _D_FRANKA
    hold_gravity_compensation: bool = True    # false on Franka hw: libfranka adds gravity itself
    status_period_s: float = 0.1

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"SupervisorConfig.{f.name} must be finite, got {v}")
        for name in ("control_period_s", "command_timeout_s", "command_max_age_s",
                     "joint_states_timeout_s", "action_timeout_s", "latent_timeout_s",
                     "heartbeat_timeout_s", "collision_period_s", "collision_timeout_s",
                     "slowdown_s", "status_period_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SupervisorConfig.{name} must be > 0")
        if self.table_wall_depth_m < 0:
            raise ValueError("SupervisorConfig.table_wall_depth_m must be >= 0")
        if not 0 < self.hold_decel_fraction <= 1 or not 0 < self.stop_decel_fraction <= 1:
            raise ValueError("decel fractions must be in (0, 1]")
        n = len(self.workspace_min_m)
        if n == 0 or n % 3 or len(self.workspace_max_m) != n or any(
                a >= b for a, b in zip(self.workspace_min_m, self.workspace_max_m)):
            raise ValueError("workspace_min_m/max_m need 3 values (or 3 per arm) each, min < max")
        if self.self_stop_distance_m >= self.self_slow_distance_m or \
                self.env_stop_distance_m >= self.env_slow_distance_m:
            raise ValueError("stop distances must be smaller than slow-down distances")
        if self.jump_hold_ratio <= 1 or self.effort_hold_ratio < 1 or self.measured_vel_stop_ratio < 1:
            raise ValueError("hold/stop ratios must be >= 1")


def workspace_boxes(cfg: SupervisorConfig, n_arms: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-arm workspace boxes ``(n_arms, 3)`` min and max from the flat config lists.

    Raises:
        ValueError: neither 3 nor ``3 * n_arms`` values.
    """
    lo = np.asarray(cfg.workspace_min_m, float).reshape(-1, 3)
    hi = np.asarray(cfg.workspace_max_m, float).reshape(-1, 3)
    if len(lo) == 1:
        lo, hi = np.repeat(lo, n_arms, 0), np.repeat(hi, n_arms, 0)
    if len(lo) != n_arms:
        raise ValueError(f"workspace_min_m/max_m: {len(lo) * 3} values for {n_arms} arms "
                         f"(need 3 or {3 * n_arms})")
    return lo, hi


def dof_limits(robot, cfg: SupervisorConfig) -> DofLimits:
    """Per-DoF limits in ``robot.command_names`` order from a RobotConfig.

    Arm joints: the robot yaml's joint_limits. Grippers: width range and speed from the yaml,
    acceleration/jerk from ``cfg``, no effort limit (position-commanded).
    """
    names = robot.command_names
    cols = {k: [] for k in ("pos_min", "pos_max", "vel_max", "acc_max", "jerk_max",
                            "effort_max", "effort_rate_max")}
    lim = robot.limits
    for n in names:
        if n in lim.names:
            i = lim.names.index(n)
            row = (lim.pos_min_rad[i], lim.pos_max_rad[i], lim.vel_max_rad_s[i],
                   lim.acc_max_rad_s2[i], lim.jerk_max_rad_s3[i], lim.effort_max_nm[i],
                   lim.effort_rate_max_nm_s[i])
        else:
            g = robot.gripper(n)
            row = (g.width_min_m, g.width_max_m, g.speed_max_m_s, cfg.gripper_acc_max_m_s2,
                   cfg.gripper_jerk_max_m_s3, np.inf, np.inf)
        for k, v in zip(cols, row):
            cols[k].append(float(v))
    return DofLimits(tuple(names), *(np.array(v) for v in cols.values()))
