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


def write_observation_bag(path, robot, topics, duration_s: float = 2.0, js_hz: float = 100.0,
                          cam_hz: float = 10.0, size: int = 64, seed: int = 0,
                          with_commands: bool = False) -> None:
    """A bag of stack observations only (joint states near home, camera images, instruction),
    times from 100 s (sim time), as the sim would give them."""
    ts = stack_typestore()
    rng = np.random.default_rng(seed)
    JS, H = ts.types["sensor_msgs/msg/JointState"], ts.types["std_msgs/msg/Header"]
    Img, Str = ts.types["sensor_msgs/msg/Image"], ts.types["std_msgs/msg/String"]
    names = list(robot.arm_joint_names) + list(robot.gripper_names)
    home = np.concatenate([robot.home_rad, [0.04] * len(robot.gripper_names)])
    t0 = 100_000_000_000
    items = [(t0, topics.instruction, ts.serialize_cdr(Str(data="pick up the red cube"),
                                                       "std_msgs/msg/String"))]
    for k in range(int(duration_s * js_hz)):
        t = t0 + int(k * 1e9 / js_hz) + 1000
        pos = home + 0.05 * np.sin(0.5 * k / js_hz + np.arange(len(home)))
        m = JS(header=H(stamp=ros_time(ts, t), frame_id=""), name=names, position=pos,
               velocity=np.zeros(len(names)), effort=np.zeros(0))
        items.append((t, robot.interfaces.joint_states, ts.serialize_cdr(m, "sensor_msgs/msg/JointState")))
        if with_commands:  # position commands after the gate, per forward controller
            F = ts.types["std_msgs/msg/Float64MultiArray"]
            L = ts.types["std_msgs/msg/MultiArrayLayout"]
            by = dict(zip(names, pos))
            for o in robot.interfaces.command_outputs:
                vals = np.array([by[j] for j in o.joints])
                items.append((t + 500, o.topic, ts.serialize_cdr(
                    F(layout=L(dim=[], data_offset=0), data=vals), "std_msgs/msg/Float64MultiArray")))
    for k in range(int(duration_s * cam_hz)):
        t = t0 + int(k * 1e9 / cam_hz) + 2000
        for cam, prefix in sorted(robot.interfaces.cameras.items()):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            m = Img(header=H(stamp=ros_time(ts, t), frame_id=cam), height=size, width=size,
                    encoding="rgb8", is_bigendian=0, step=3 * size, data=img.ravel())
            items.append((t, prefix + "/image_raw", ts.serialize_cdr(m, "sensor_msgs/msg/Image")))
    items.sort(key=lambda x: x[0])
    types = {topics.instruction: "std_msgs/msg/String",
             robot.interfaces.joint_states: "sensor_msgs/msg/JointState"}
    for prefix in robot.interfaces.cameras.values():
        types[prefix + "/image_raw"] = "sensor_msgs/msg/Image"
    if with_commands:
        for o in robot.interfaces.command_outputs:
            types[o.topic] = "std_msgs/msg/Float64MultiArray"
    with BagWriter(path) as w:
        for t, ty in types.items():
            w.add_topic(t, ty)
        for t, topic, data in items:
            w.write(topic, t, data)
