"""Velocity- and acceleration-limited tracking of a joint target (ROS-free).

The controller's joint command follows the interpolated target through this filter so that the
stream it sends the safety gate respects the velocity and acceleration limits by construction
(the gate would otherwise reshape it): feed-forward of the target's velocity plus a correction
that closes the remaining error as fast as possible without needing to brake harder than
``a_max`` (v ~ sqrt(2 a |e|), in whole ticks), clipped to ``v_max`` and to an ``a_max * dt`` velocity change.
"""
from __future__ import annotations

import numpy as np


def limited_step(x: np.ndarray, v: np.ndarray, x_d: np.ndarray, v_ff: np.ndarray, dt_s: float,
                 v_max: np.ndarray, a_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One tick of the limited tracker.

    Args:
        x, v: current command position and velocity (n,).
        x_d: target position (n,). v_ff: target velocity (n,) (0 if unknown).
        dt_s: tick period (> 0).
        v_max, a_max: limits (n,), > 0.
    Returns:
        (x_new, v_new) with |v_new| <= v_max and |v_new - v| <= a_max * dt_s.
    Raises:
        ValueError: dt_s not finite and > 0.
    """
    if not (np.isfinite(dt_s) and dt_s > 0):
        raise ValueError(f"dt_s must be finite and > 0, got {dt_s}")
    e = x_d - (x + v_ff * dt_s)      # error left after following the target's own motion
    ae = np.abs(e)
    # the fastest speed from which whole ticks of braking at a_max stop within |e| (the
    # continuous sqrt(2 a |e|) overshoots by a few ticks of braking: its slope is infinite at 0)
    adt = a_max * dt_s
    corr = np.sign(e) * np.minimum(ae / dt_s, adt * (np.sqrt(0.25 + 2.0 * ae / (adt * dt_s)) - 0.5))
    v_des = np.clip(v_ff + corr, -v_max, v_max)
    v_new = np.clip(v_des, v - a_max * dt_s, v + a_max * dt_s)
    v_new = np.clip(v_new, -v_max, v_max)
    return x + v_new * dt_s, v_new


def feedforward_velocity(x_d: np.ndarray, x_d_prev: np.ndarray | None, dt_s: float,
                         v_max: np.ndarray) -> np.ndarray:
    """Finite-difference velocity of the target; entries whose implied speed exceeds ``v_max``
    (a jump: replanning, hold, resume) give 0 instead of a spike."""
    if x_d_prev is None:
        return np.zeros_like(x_d)
    v = (x_d - x_d_prev) / dt_s
    return np.where(np.abs(v) <= v_max, v, 0.0)
