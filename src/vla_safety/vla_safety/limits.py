"""Pure numeric limit checks and the motion limiter of the safety gate (ROS-free).

Every function takes arrays in one fixed DoF order (``RobotConfig.command_names``) and never
reads a clock: the control period is passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DofLimits:
    """Limits per commanded DoF (arm joints and grippers), arrays in ``names`` order.

    Grippers have no effort limit here (``inf``): they are always position-commanded.
    """
    names: tuple[str, ...]
    pos_min: np.ndarray
    pos_max: np.ndarray
    vel_max: np.ndarray
    acc_max: np.ndarray
    jerk_max: np.ndarray
    effort_max: np.ndarray
    effort_rate_max: np.ndarray

    def __post_init__(self):
        n = len(self.names)
        for f in ("pos_min", "pos_max", "vel_max", "acc_max", "jerk_max", "effort_max",
                  "effort_rate_max"):
            a = np.asarray(getattr(self, f), dtype=float)
            if a.shape != (n,):
                raise ValueError(f"DofLimits.{f} needs shape ({n},), got {a.shape}")
            if np.any(np.isnan(a)):
                raise ValueError(f"DofLimits.{f} contains NaN")
            a = a.copy()
            a.setflags(write=False)
            object.__setattr__(self, f, a)
        if np.any(self.pos_min >= self.pos_max):
            raise ValueError("DofLimits: pos_min must be < pos_max")
        for f in ("vel_max", "acc_max", "jerk_max", "effort_max", "effort_rate_max"):
            if np.any(getattr(self, f) <= 0):
                raise ValueError(f"DofLimits.{f} must be > 0")


def all_finite(x: np.ndarray) -> bool:
    """True when every entry is finite.

    Args:
        x: array of any shape (empty counts as finite).
    Returns:
        ``False`` if any entry is NaN or +-inf.
    """
    return bool(np.all(np.isfinite(np.asarray(x, dtype=float))))


def position_excess(q: np.ndarray, pos_min: np.ndarray, pos_max: np.ndarray,
                    margin: float | np.ndarray = 0.0) -> np.ndarray:
    """How far each entry lies outside ``[pos_min + margin, pos_max - margin]``.

    Args:
        q: positions (rad or m).
        pos_min, pos_max: hard limits, same shape as ``q``.
        margin: distance kept from each hard limit (>= 0).
    Returns:
        Non-negative excess per entry (0 inside the band; NaN input gives NaN).
    Raises:
        ValueError: negative margin or a margin that leaves an empty band.
    """
    margin = np.asarray(margin, dtype=float)
    if np.any(margin < 0):
        raise ValueError("margin must be >= 0")
    lo, hi = pos_min + margin, pos_max - margin
    if np.any(lo > hi):
        raise ValueError("margin leaves an empty position band")
    q = np.asarray(q, dtype=float)
    return np.maximum(np.maximum(lo - q, q - hi), 0.0)


def ratio_over(value: np.ndarray, limit: np.ndarray) -> float:
    """Largest ``|value| / limit`` over all entries (the factor a stream exceeds its limit by).

    Args:
        value: velocities, accelerations, efforts, ...
        limit: positive limits, same shape (``inf`` = unlimited).
    Returns:
        max ratio (0.0 for empty arrays; ``inf`` if ``value`` is non-finite).
    """
    value = np.asarray(value, dtype=float)
    if value.size == 0:
        return 0.0
    if not all_finite(value):
        return float("inf")
    return float(np.max(np.abs(value) / np.asarray(limit, dtype=float)))


def stream_derivatives(q_new: np.ndarray, q_prev: np.ndarray, v_prev: np.ndarray,
                       a_prev: np.ndarray, period_s: float):
    """Velocity, acceleration and jerk a new sample implies for a stream sampled at ``period_s``.

    Args:
        q_new: new position sample.
        q_prev, v_prev, a_prev: the stream's previous position, velocity, acceleration.
        period_s: control period (> 0).
    Returns:
        ``(v, a, j)`` backward differences.
    Raises:
        ValueError: non-positive or non-finite period.
    """
    if not np.isfinite(period_s) or period_s <= 0:
        raise ValueError(f"period_s must be finite and > 0, got {period_s}")
    v = (q_new - q_prev) / period_s
    a = (v - v_prev) / period_s
    j = (a - a_prev) / period_s
    return v, a, j


CATCH_UP_RAMPS = 4.0


def limit_step(q_des: np.ndarray, q_prev: np.ndarray, v_prev: np.ndarray, a_prev: np.ndarray,
               lim: DofLimits, period_s: float, vel_scale: float = 1.0,
               pos_margin: float | np.ndarray = 0.0, v_ff: np.ndarray | None = None,
               v_band: tuple[np.ndarray, np.ndarray] | None = None):
    """Move a position stream one period towards ``q_des`` within every motion limit.

    With ``v_ff`` (the command stream's own velocity) the desired velocity is ``v_ff`` plus a
    correction ``e / tau`` (``tau`` = ``CATCH_UP_RAMPS`` acceleration ramp times ``acc/jerk``),
    capped at what can be braked at ``acc_max`` (``sqrt(2 a |e|)``), so a stream that fell
    behind (jerk band, slow-down) settles onto the command without overshooting or oscillating
    around it; without it the step aims at ``q_des`` in one period.

    The step's velocity is clipped per DoF into bands, in priority order: (hard) the velocity
    limit and the acceleration band around ``v_prev``; (soft) the braking room before
    ``pos_max - margin`` / ``pos_min + margin``, the scaled velocity ``vel_scale * vel_max``,
    the jerk band around ``v_prev + a_prev * period_s`` and last ``v_band`` (the caller's own
    band, e.g. the braking room before the table). A soft band is intersected when it can be,
    otherwise the velocity gets as close to it as the harder bands allow (so a sudden slow-down
    is reached at ``acc_max``, never with an acceleration spike).

    Args:
        q_des: desired position (finite).
        q_prev, v_prev, a_prev: current state of the output stream (finite).
        lim: per-DoF limits.
        period_s: control period (> 0).
        vel_scale: 0..1 factor on the velocity limit (slow-down zones, degraded mode).
        pos_margin: distance kept from the hard position limits.
        v_ff: command stream velocity (finite) or None.
        v_band: ``(lo, hi)`` velocity bounds per DoF (``-inf``/``inf`` = none) or None.
    Returns:
        ``(q, v, a, scale)``: the limited step and the achieved fraction of the desired
        displacement (1.0 = not clipped, min over DoF; used for status ``velocity_scale``).
    Raises:
        ValueError: non-positive period or ``vel_scale`` outside [0, 1].
    """
    if not np.isfinite(period_s) or period_s <= 0:
        raise ValueError(f"period_s must be finite and > 0, got {period_s}")
    if not 0.0 <= vel_scale <= 1.0:
        raise ValueError(f"vel_scale must be in [0, 1], got {vel_scale}")
    dt = period_s
    lo_q = lim.pos_min + pos_margin
    hi_q = lim.pos_max - pos_margin
    q_des = np.clip(q_des, lo_q, hi_q)
    if v_ff is None:
        v_des = (q_des - q_prev) / dt
    else:
        # first-order catch-up, slower than the jerk-limited acceleration ramp (acc/jerk) so the
        # stream settles onto the command instead of oscillating around it
        tau = np.maximum(CATCH_UP_RAMPS * lim.acc_max / lim.jerk_max, 2.0 * dt)
        e = q_des - (q_prev + v_ff * dt)
        ae = np.abs(e)
        v_des = v_ff + np.sign(e) * np.minimum(ae / tau, np.sqrt(2.0 * lim.acc_max * ae))
    # hard band: acceleration around v_prev and the velocity limit (never empty: |v_prev| <= vmax)
    lo = np.maximum(v_prev - lim.acc_max * dt, -lim.vel_max)
    hi = np.minimum(v_prev + lim.acc_max * dt, lim.vel_max)
    lo = np.minimum(lo, hi)
    # soft bands, in priority order; each is intersected if it can be, else we get as close as
    # the hard band allows (e.g. a sudden slow-down scale is reached at acc_max, not in one step)
    vmax = lim.vel_max * vel_scale
    ad = lim.acc_max * dt
    # 0.9: slack for the discrete sum of the braking steps
    room_hi = 0.9 * np.maximum(hi_q - q_prev, 0.0)
    room_lo = 0.9 * np.maximum(q_prev - lo_q, 0.0)
    # discrete braking: v*dt/2 + v^2/(2a) <= room  keeps the stream able to stop inside the band
    brake_hi = -ad / 2 + np.sqrt(ad * ad / 4 + 2.0 * lim.acc_max * room_hi)
    brake_lo = -(-ad / 2 + np.sqrt(ad * ad / 4 + 2.0 * lim.acc_max * room_lo))
    j_mid = v_prev + a_prev * dt
    jd = lim.jerk_max * dt * dt
    bands = [(brake_lo, brake_hi), (-vmax, vmax), (j_mid - jd, j_mid + jd)]
    if v_band is not None:
        bands.append(v_band)
    for b_lo, b_hi in bands:
        lo, hi = np.clip(b_lo, lo, hi), np.clip(b_hi, lo, hi)
    v = np.clip(v_des, lo, hi)
    # never further out than the band (a stream already inside the margin is not yanked back)
    q = np.clip(q_prev + v * dt, np.minimum(lo_q, q_prev), np.maximum(hi_q, q_prev))
    v = (q - q_prev) / dt
    a = (v - v_prev) / dt
    moved = np.abs(q_des - q_prev)
    frac = np.where(moved > 1e-12, np.abs(q - q_prev) / np.maximum(moved, 1e-12), 1.0)
    return q, v, a, float(np.clip(np.min(frac), 0.0, 1.0)) if frac.size else 1.0


def braking_travel(v: np.ndarray, a: np.ndarray, lim: DofLimits, period_s: float) -> np.ndarray:
    """Distance per DoF a stream travels from its previous sample when its step has velocity
    ``v`` and acceleration ``a`` and it brakes from there on as hard as :func:`limit_step` can:
    this step (``|v| dt``), the jerk-limited ramp from ``a`` to full braking
    (``(acc_max + a sign(v)) / jerk_max``, counted at ``|v|``: the little speed gained on the
    ramp is left to the caller's slack) and ``v^2 / (2 acc_max)`` (which bounds the discrete
    sum of the braking steps).

    Args:
        v, a: the step's velocity and acceleration.
        lim: per-DoF limits.
        period_s: the step's duration (> 0).
    Returns:
        Non-negative distances, in the direction of ``v``.
    """
    av = np.abs(v)
    ramp = np.clip(lim.acc_max + a * np.sign(v), 0.0, 2.0 * lim.acc_max) / lim.jerk_max
    return av * (period_s + ramp) + av * av / (2.0 * lim.acc_max)


def brake_step(q_prev: np.ndarray, v_prev: np.ndarray, a_prev: np.ndarray, lim: DofLimits,
               period_s: float, decel_fraction: float = 1.0):
    """One period of a controlled stop ramp: decelerate towards zero velocity within limits.

    Args:
        q_prev, v_prev, a_prev: current state of the output stream.
        lim: per-DoF limits.
        period_s: control period (> 0).
        decel_fraction: fraction (0, 1] of ``acc_max`` used to brake.
    Returns:
        ``(q, v, a)`` of the next stream sample; ``v`` reaches exactly 0 at standstill.
    Raises:
        ValueError: ``decel_fraction`` outside (0, 1].
    """
    if not 0.0 < decel_fraction <= 1.0:
        raise ValueError(f"decel_fraction must be in (0, 1], got {decel_fraction}")
    dt = period_s
    dec = lim.acc_max * decel_fraction * dt
    v_target = np.sign(v_prev) * np.maximum(np.abs(v_prev) - dec, 0.0)
    # stay inside the acceleration and jerk bands; jerk may be dropped at standstill
    a_lo, a_hi = v_prev - lim.acc_max * dt, v_prev + lim.acc_max * dt
    j_mid = v_prev + a_prev * dt
    lo = np.maximum(j_mid - lim.jerk_max * dt * dt, a_lo)
    hi = np.minimum(j_mid + lim.jerk_max * dt * dt, a_hi)
    bad = lo > hi
    v = np.clip(v_target, np.where(bad, a_lo, lo), np.where(bad, a_hi, hi))
    # never reverse direction while braking
    v = np.where(v_prev > 0, np.clip(v, 0.0, None), np.where(v_prev < 0, np.clip(v, None, 0.0), 0.0))
    v = np.clip(v, -lim.vel_max, lim.vel_max)
    q = np.clip(q_prev + v * dt, lim.pos_min, lim.pos_max)
    v = (q - q_prev) / dt
    return q, v, (v - v_prev) / dt


def stop_time_bound_s(lim: DofLimits, decel_fraction: float, period_s: float) -> float:
    """Upper bound of the stop ramp's duration from any admissible velocity.

    Args:
        lim: limits (``vel_max``, ``acc_max``).
        decel_fraction: as in :func:`brake_step`.
        period_s: control period.
    Returns:
        ``max(vel_max / (acc_max * decel_fraction))`` plus two periods (jerk ramp, rounding).
    """
    return float(np.max(lim.vel_max / (lim.acc_max * decel_fraction))) + 2.0 * period_s


def limit_effort(tau_des: np.ndarray, tau_prev: np.ndarray, lim: DofLimits,
                 period_s: float) -> tuple[np.ndarray, float]:
    """Clip torques to the effort limit and the effort-rate limit from the previous torque.

    Args:
        tau_des: desired torques (finite; non-effort DoFs may hold 0).
        tau_prev: torques sent one period ago.
        lim: limits (``effort_max``, ``effort_rate_max``).
        period_s: control period (> 0).
    Returns:
        ``(tau, ratio)`` clipped torques and how far ``tau_des`` exceeded its bands (<= 1 = none).
    """
    step = lim.effort_rate_max * period_s
    lo = np.maximum(-lim.effort_max, tau_prev - step)
    hi = np.minimum(lim.effort_max, tau_prev + step)
    lo = np.minimum(lo, hi)
    tau = np.clip(tau_des, lo, hi)
    ratio = max(ratio_over(tau_des, lim.effort_max),
                ratio_over(tau_des - tau_prev, lim.effort_rate_max * period_s))
    return tau, ratio
