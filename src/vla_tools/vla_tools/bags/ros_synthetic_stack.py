"""A real rclpy process publishing the stack's message types at nominal rates (ROS adapter).

Used by the recorder tests and bench_record.py until the full stack runs: /joint_states 500 Hz,
camera images 10 Hz, latents 8 Hz, actions 200 Hz, commands before/after the safety gate at
500 Hz, chunks, safety status, diagnostics and the latched instruction, with the stack's QoS.
Writes a JSON with, per topic, the SHA-1 of every published serialized message, so a test can
compare the recorded messages one by one (SHA-1 of the message repr: rclpy's serialize_message
pads differently from the bytes on the wire).

Run: ``python -m vla_tools.bags.ros_synthetic_stack --duration 3 --out pub.json``
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np
import rclpy

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from vla_interfaces.msg import ActionChunk, ActionStep, Latent, SafetyStatus

from vla_common.config import load_robot_config, load_topics
from vla_common.ros_qos import COMMAND, LATCHED, SENSOR_PUB, STREAM

NOMINAL_HZ = {"joint_states": 500.0, "image": 10.0, "camera_info": 10.0, "latent": 8.0,
              "action": 200.0, "action_chunk": 8.0, "controller_command": 500.0,
              "command_output": 500.0, "safety_status": 10.0, "diagnostics": 2.0}


def message_digest(msg) -> str:
    """SHA-1 of a message's full repr (every field), comparable across processes."""
    return hashlib.sha1(repr(msg).encode()).hexdigest()


def _stamp(t_s: float) -> Time:
    return Time(sec=int(t_s), nanosec=int((t_s % 1.0) * 1e9))


class SyntheticStack:
    def __init__(self, node, robot: str, image_size: int, rate_scale: float):
        self.node = node
        rc = load_robot_config(robot, "sim")
        tp = load_topics()
        self.names = list(rc.command_names)
        js_names = list(rc.arm_joint_names) + list(rc.gripper_names)
        n = len(self.names)
        pubs = []  # (topic, publisher, period_s, make(seq, t_s) -> msg)

        def add(topic, cls, qos, hz, make):
            pubs.append((topic, node.create_publisher(cls, topic, qos), 1.0 / (hz * rate_scale), make))

        add(rc.interfaces.joint_states, JointState, SENSOR_PUB, NOMINAL_HZ["joint_states"],
            lambda k, t: JointState(header=_hdr(t), name=js_names,
                                    position=[float(k)] + [0.1] * (len(js_names) - 1),
                                    velocity=[0.0] * len(js_names), effort=[]))
        for cam, prefix in sorted(rc.interfaces.cameras.items()):
            add(prefix + "/image_raw", Image, SENSOR_PUB, NOMINAL_HZ["image"],
                lambda k, t, cam=cam: Image(
                    header=_hdr(t, cam), height=image_size, width=image_size, encoding="rgb8",
                    step=3 * image_size,
                    data=np.full(3 * image_size * image_size, k % 256, np.uint8).tobytes()))
            add(prefix + "/camera_info", CameraInfo, SENSOR_PUB, NOMINAL_HZ["camera_info"],
                lambda k, t, cam=cam: CameraInfo(header=_hdr(t, cam), height=image_size,
                                                 width=image_size))
        add(tp.latent, Latent, STREAM, NOMINAL_HZ["latent"],
            lambda k, t: Latent(header=_hdr(t), instruction="pick", instruction_id=1,
                                latent=[float(k)] * 128, model_id="synthetic"))
        add(tp.action_chunk, ActionChunk, STREAM, NOMINAL_HZ["action_chunk"],
            lambda k, t: ActionChunk(header=_hdr(t), action_names=self.names, horizon=16,
                                     action_dim=n, data=[float(k)] * (16 * n),
                                     step_period_s=0.02, sequence=k))
        add(tp.action, ActionStep, STREAM, NOMINAL_HZ["action"],
            lambda k, t: ActionStep(header=_hdr(t), names=self.names, values=[float(k)] * n,
                                    chunk_sequence=k // 25, step_index=k % 25))
        add(tp.controller_command, JointState, COMMAND, NOMINAL_HZ["controller_command"],
            lambda k, t: JointState(header=_hdr(t), name=self.names, position=[float(k)] * n))
        for o in rc.interfaces.command_outputs:
            add(o.topic, Float64MultiArray, COMMAND, NOMINAL_HZ["command_output"],
                lambda k, t, m=len(o.joints): Float64MultiArray(data=[float(k)] * m))
        add(tp.safety_status, SafetyStatus, STREAM, NOMINAL_HZ["safety_status"],
            lambda k, t: SafetyStatus(header=_hdr(t), state=2, state_name="RUNNING",
                                      transition_count=k, velocity_scale=1.0))
        add(tp.diagnostics, DiagnosticArray, STREAM, NOMINAL_HZ["diagnostics"],
            lambda k, t: DiagnosticArray(header=_hdr(t), status=[DiagnosticStatus(
                name="synthetic", message=f"beat {k}")]))
        self.pubs = pubs
        self.instruction_pub = node.create_publisher(String, tp.instruction, LATCHED)
        self.instruction_topic = tp.instruction
        self.digests: dict[str, list[str]] = {p[0]: [] for p in pubs}
        self.digests[tp.instruction] = []

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if all(p.get_subscription_count() > 0 for _, p, _, _ in self.pubs):
                return True
            time.sleep(0.05)
        return False

    def _pub(self, topic, pub, msg) -> None:
        pub.publish(msg)
        self.digests[topic].append(message_digest(msg))

    def run(self, duration_s: float) -> None:
        self._pub(self.instruction_topic, self.instruction_pub, String(data="pick up the cube"))
        t0 = time.monotonic()
        next_due = [t0] * len(self.pubs)
        seq = [0] * len(self.pubs)
        while True:
            now = time.monotonic()
            if now - t0 >= duration_s:
                break
            for i, (topic, pub, period, make) in enumerate(self.pubs):
                while next_due[i] <= now and next_due[i] - t0 < duration_s:
                    self._pub(topic, pub, make(seq[i], time.time()))
                    seq[i] += 1
                    next_due[i] += period
            time.sleep(max(0.0, min(next_due) - time.monotonic()))


def _hdr(t_s: float, frame: str = ""):
    from std_msgs.msg import Header
    return Header(stamp=_stamp(t_s), frame_id=frame)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="franka")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--rate-scale", type=float, default=1.0)
    ap.add_argument("--wait-subscribers", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds to wait after matching so the subscribers also match us")
    ap.add_argument("--linger", type=float, default=1.0, help="seconds to stay up after the last message")
    ap.add_argument("--out", default="")
    a = ap.parse_args(argv)
    rclpy.init()
    node = rclpy.create_node("vla_synthetic_stack")
    try:
        st = SyntheticStack(node, a.robot, a.image_size, a.rate_scale)
        if not st.wait_for_subscribers(a.wait_subscribers):
            print("warning: not every topic has a subscriber", file=sys.stderr)
        time.sleep(a.settle)
        t0 = time.monotonic()
        st.run(a.duration)
        elapsed = time.monotonic() - t0
        time.sleep(a.linger)  # let reliable delivery finish before the publishers go away
        counts = {t: len(d) for t, d in st.digests.items()}
        print(json.dumps({"published": sum(counts.values()), "elapsed_s": elapsed}), flush=True)
        if a.out:
            with open(a.out, "w") as f:
                json.dump({"counts": counts, "digests": st.digests, "elapsed_s": elapsed}, f)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
