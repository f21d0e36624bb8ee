"""Shared helpers for the bag tests: small bags written through the real writer."""
from __future__ import annotations

import numpy as np

from vla_tools.bags.typestore import stack_typestore
from vla_tools.bags.writer import BagWriter, WriterConfig


def ros_time(ts, t_ns: int):
    T = ts.types["builtin_interfaces/msg/Time"]
    return T(sec=int(t_ns // 1_000_000_000), nanosec=int(t_ns % 1_000_000_000))


def joint_state_bytes(ts, t_ns: int, k: int) -> bytes:
    JS, H = ts.types["sensor_msgs/msg/JointState"], ts.types["std_msgs/msg/Header"]
    m = JS(header=H(stamp=ros_time(ts, t_ns), frame_id=""), name=["a", "b"],
           position=np.array([float(k), 2.0]), velocity=np.zeros(2), effort=np.zeros(0))
    return ts.serialize_cdr(m, "sensor_msgs/msg/JointState")


def write_joint_state_bag(path, n: int = 600, period_ns: int = 2_000_000,
                          config: WriterConfig = WriterConfig()) -> list[bytes]:
    """A bag with ``n`` JointState messages; returns the bytes written, in order."""
    ts = stack_typestore()
    out = []
    with BagWriter(path, config) as w:
        w.add_topic("/joint_states", "sensor_msgs/msg/JointState")
        for k in range(n):
            b = joint_state_bytes(ts, 1_000_000_000 + k * period_ns, k)
            w.write("/joint_states", 1_000_000_000 + k * period_ns, b)
            out.append(b)
    return out
