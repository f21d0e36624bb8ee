#!/usr/bin/env python3
"""Benchmark of the safety gate: added latency per command (p50/p99, microseconds) and the
maximum command rate it sustains.

1. core: ``Supervisor.on_command`` (all checks incl. the per-command geofence FK) in-process.
2. node: the real ``vla_safety.safety_node`` process (wall clock, Franka sim params): one-way
   latency command -> gated output over DDS, and the output rate when commands are sent as fast
   as this process can publish. The gate's added latency is the node figure minus one DDS hop
   (ENVIRONMENT.md measured ~0.3 ms p50 for a JointState hop on an idle machine).

Usage: MUJOCO_GL=osmesa ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
       .venv/bin/python bench/bench_safety.py [--n 5000] [--node-seconds 3]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def pct(v, q):
    return float(np.percentile(np.asarray(v), q))


def bench_core(n: int, geometry: bool) -> dict:
    from vla_common.config import load_robot_config
    from vla_safety.collision import build_geometry
    from vla_safety.config import SupervisorConfig
    from vla_safety.supervisor import Supervisor
    robot = load_robot_config("franka", "sim")
    cfg = SupervisorConfig(geometry_enabled=geometry)
    sup = Supervisor(robot, cfg, build_geometry(robot) if geometry else None)
    names = list(robot.command_names)
    home = np.append(robot.home_rad, 0.04)
    dt = cfg.control_period_s
    sup.on_joint_states(1.0, names, home)
    if geometry:
        sup.check_collision(1.0)
    lat = []
    for k in range(n):
        now = 1.0 + (k + 1) * dt
        q = home.copy()
        q[:7] += 0.2 * np.sin(2 * np.pi * 0.5 * k * dt)
        sup.on_joint_states(now, names, q)
        if geometry and k % 10 == 0:
            sup.check_collision(now)  # the slow check runs in its own callback group in the node
        t0 = time.perf_counter()
        out = sup.on_command(now, now, names, q)
        lat.append(time.perf_counter() - t0)
        sup.tick(now)
        assert out is not None, sup.status()
    us = np.asarray(lat) * 1e6
    return {"p50_us": pct(us, 50), "p99_us": pct(us, 99), "max_rate_hz": 1e6 / float(np.mean(us))}


def bench_node(seconds: float) -> dict:
    import rclpy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    from vla_common.config import find_config_dir, load_robot_config, load_topics
    from vla_common.ros_qos import COMMAND, SENSOR_PUB
    from vla_common.testing import claim_domain_id, graph_env
    from vla_safety.ros_fault_harness import override_params_file

    dom = claim_domain_id()
    robot, topics = load_robot_config("franka", "sim"), load_topics()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_safety.safety_node", "--ros-args", "-r", "__node:=vla_safety",
         "--params-file", str(find_config_dir() / "franka_sim.yaml"), "--params-file",
         str(override_params_file(Path(tempfile.mkdtemp()) / "bench.yaml", use_sim_time=False,
                                  watched_nodes=("vla_safety",), command_timeout_s=5.0,
                                  joint_states_timeout_s=1.0, collision_timeout_s=2.0))],
        env=graph_env(dom), stdout=subprocess.DEVNULL, stderr=open("/tmp/bench_safety_node.log", "w"))
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=dom)
    node = rclpy.create_node("bench_safety", context=ctx)
    pub_cmd = node.create_publisher(JointState, topics.controller_command, COMMAND)
    pub_js = node.create_publisher(JointState, robot.interfaces.joint_states, SENSOR_PUB)
    names = list(robot.command_names)
    home = np.append(robot.home_rad, 0.04)
    sent: dict[int, float] = {}
    recv: list[tuple[int, float]] = []
    lock = threading.Lock()

    def on_out(msg):
        t = time.perf_counter()
        with lock:  # the sequence number rides on J7 in micro-radians (the gate passes it)
            recv.append((int(round((msg.data[6] - home[6]) * 1e6)), t))
    node.create_subscription(Float64MultiArray, robot.interfaces.command_outputs[0].topic, on_out,
                             COMMAND)
    from diagnostic_msgs.msg import DiagnosticArray
    from vla_interfaces.msg import SafetyStatus
    counters = {}

    def on_diag(msg):
        for st in msg.status:
            if st.name == "vla_safety":
                counters.update({kv.key: kv.value for kv in st.values})
    node.create_subscription(DiagnosticArray, topics.diagnostics, on_diag, 50)
    status = []
    node.create_subscription(SafetyStatus, topics.safety_status,
                             lambda m: status.append((m.state_name, m.last_transition_reason)), 50)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()

    def js():
        m = JointState(name=names, position=home.tolist())
        m.header.stamp = node.get_clock().now().to_msg()
        pub_js.publish(m)

    def idle(t_s):  # keep the joint states fresh while waiting
        end = time.monotonic() + t_s
        while time.monotonic() < end:
            js()
            time.sleep(0.01)

    def cmd(seq):
        q = home.copy()
        q[6] += seq * 1e-6  # 1 micro-rad per command: well inside every limit at any rate
        m = JointState(name=names, position=q.tolist())
        m.header.stamp = node.get_clock().now().to_msg()
        sent[seq] = time.perf_counter()
        pub_cmd.publish(m)
    try:
        end = time.monotonic() + 30
        seq = 0
        while time.monotonic() < end and not recv:  # wait for discovery and RUNNING
            js()
            seq += 1
            cmd(seq)
            time.sleep(0.02)
        if not recv:
            raise RuntimeError("safety node never forwarded a command")
        # latency: paced at 200 Hz (each output matched by its sequence number)
        with lock:
            recv.clear()
        first = seq + 1
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            js()
            seq += 1
            cmd(seq)
            time.sleep(0.005)
        time.sleep(0.2)
        with lock:
            lat = [(t - sent[s]) * 1e6 for s, t in recv if s >= first and s in sent]
        # max rate: paced steps; the highest rate whose commands were (>= 95 %) forwarded
        rates = {}
        for rate in (250, 500, 1000, 2000, 4000):
            idle(0.7)  # a fresh heartbeat with the node's own counters
            f0, r0 = int(counters.get("forwarded", 0)), int(counters.get("rejected", 0))
            n0 = seq
            t0 = time.perf_counter()
            nxt = t0
            while time.perf_counter() - t0 < seconds:
                nxt += 1.0 / rate
                if seq % 10 == 0:
                    js()
                seq += 1
                cmd(seq)
                while time.perf_counter() < nxt:
                    time.sleep(0)
            sent_hz = (seq - n0) / (time.perf_counter() - t0)
            idle(0.7)
            got = int(counters.get("forwarded", 0)) - f0  # counted by the gate itself
            rates[rate] = (sent_hz, got / max(1, seq - n0))
        ok = [r for r, (_, frac) in rates.items() if frac >= 0.95]
        if status and status[-1][0] != "RUNNING":
            print(f"note: gate state {status[-1]}", file=sys.stderr)
        return {"p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "n": len(lat), "rates": rates,
                "max_ok_hz": max(ok) if ok else 0}
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="core commands")
    ap.add_argument("--node-seconds", type=float, default=3.0)
    ap.add_argument("--no-node", action="store_true")
    a = ap.parse_args()
    for geom in (False, True):
        r = bench_core(a.n, geom)
        print(f"core gate (Franka, geofence FK {'on' if geom else 'off'}): per command "
              f"p50 {r['p50_us']:.1f} us, p99 {r['p99_us']:.1f} us; max sustained rate "
              f"{r['max_rate_hz']:.0f} commands/s (1 / mean)")
    if not a.no_node:
        r = bench_node(a.node_seconds)
        print(f"node (DDS, command -> gated output, one hop in + one out, {r['n']} samples at "
              f"200 Hz): p50 {r['p50_us']:.0f} us, p99 {r['p99_us']:.0f} us")
        for rate, (sent_hz, frac) in r["rates"].items():
            print(f"node at {rate} Hz requested ({sent_hz:.0f} sent/s): {100 * frac:.1f} % forwarded "
                  f"= {frac * sent_hz:.0f} gated commands/s")
        print(f"node max sustained command rate (>= 95 % forwarded): {r['max_ok_hz']} Hz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
