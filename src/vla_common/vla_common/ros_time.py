"""Conversions between ROS time messages and float seconds (ROS adapter)."""
from __future__ import annotations

from builtin_interfaces.msg import Time


def stamp_to_s(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def s_to_stamp(t_s: float) -> Time:
    """Float seconds -> ``builtin_interfaces/Time`` (negative clamps to zero)."""
    t_s = max(0.0, float(t_s))
    sec = int(t_s)
    nsec = int(round((t_s - sec) * 1e9))
    if nsec >= 1_000_000_000:
        sec, nsec = sec + 1, nsec - 1_000_000_000
    return Time(sec=sec, nanosec=nsec)


def now_s(node) -> float:
    """The node's clock (sim time when use_sim_time) in seconds."""
    return node.get_clock().now().nanoseconds * 1e-9
