"""Benchmark of the MuJoCo simulation bridge: physics real-time factor and image rates.

    MUJOCO_GL=osmesa .venv/bin/python bench/bench_sim.py [--robots franka,aloha] [--seconds 6]

Part 1 (in process, SimEnv): physics steps/s and real-time factor (RTF) with rendering off,
then with every camera rendered at its rate (default 128x128 at 10 Hz sim time), and the
render time per frame.
Part 2 (the real sim_node process over DDS, real-time mode): measured /joint_states rate,
sim-time RTF (from /clock) and image rates per camera, rendering off and on.
All figures are measured here and now; the machine is shared, so expect noise.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

import numpy as np  # noqa: E402

from vla_common.config import find_config_dir, load_robot_config  # noqa: E402


def bench_env(robot: str, seconds: float, width: int, height: int, rate_hz: float) -> None:
    from vla_sim.factory import make_env
    cfg = load_robot_config(robot, "sim")
    env = make_env(cfg)
    env.reset(None, 0)
    n = int(seconds / env.dt_s)
    t0 = time.perf_counter()
    env.step(n)
    wall = time.perf_counter() - t0
    print(f"[{robot}] physics only: {n / wall:,.0f} steps/s, RTF {n * env.dt_s / wall:.1f}x "
          f"({n} steps of {env.dt_s * 1e3:.0f} ms)")
    cams = list(cfg.cameras)
    for c in cams:  # warm up the GL context
        env.render(c, width, height)
    every = max(1, int(round(1.0 / rate_hz / env.dt_s)))
    render_s = []
    t0 = time.perf_counter()
    for k in range(n):
        env.step(1)
        if k % every == 0:
            for c in cams:
                r0 = time.perf_counter()
                env.render(c, width, height)
                render_s.append(time.perf_counter() - r0)
    wall = time.perf_counter() - t0
    r = np.array(render_s) * 1e3
    print(f"[{robot}] physics + {len(cams)} cameras {width}x{height} @ {rate_hz:g} Hz sim: "
          f"RTF {n * env.dt_s / wall:.1f}x; render p50 {np.percentile(r, 50):.1f} ms, "
          f"p99 {np.percentile(r, 99):.1f} ms per frame (-> max {1e3 / np.percentile(r, 50):.0f} frames/s "
          f"single camera)")
    env.close()


def bench_node(robot: str, seconds: float, render: bool, width: int, height: int, rate_hz: float) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState

    from vla_common.ros_qos import SENSOR
    from vla_common.testing import claim_domain_id, graph_env, stop_process
    cfg = load_robot_config(robot, "sim")
    domain = claim_domain_id()
    over = Path(tempfile.mkdtemp()) / "bench.yaml"
    over.write_text("vla_sim:\n  ros__parameters:\n"
                    f"    render_enabled: {'true' if render else 'false'}\n"
                    f"    camera_width_px: [{width}]\n    camera_height_px: [{height}]\n"
                    f"    camera_rate_hz: [{rate_hz}]\n    real_time_factor: 1.0\n")
    cmd = [sys.executable, "-m", "vla_sim.sim_node", "--ros-args", "-r", "__node:=vla_sim",
           "--params-file", str(find_config_dir() / f"{robot}_sim.yaml"), "--params-file", str(over)]
    proc = subprocess.Popen(cmd, env=graph_env(domain), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("bench_sim", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    counts = {"js": 0, **{c: 0 for c in cfg.cameras}}
    clock = []
    node.create_subscription(JointState, "/joint_states", lambda m: counts.__setitem__("js", counts["js"] + 1), SENSOR)
    node.create_subscription(Clock, "/clock", lambda m: clock.append(m.clock.sec + m.clock.nanosec * 1e-9), 10)
    for c in cfg.cameras:
        node.create_subscription(Image, f"/camera/{c}/image_raw",
                                 lambda m, c=c: counts.__setitem__(c, counts[c] + 1), SENSOR)
    try:
        t0 = time.monotonic()
        while not clock and time.monotonic() - t0 < 60:
            ex.spin_once(timeout_sec=0.05)
        t_end = time.monotonic() + 2.0  # let discovery of every topic settle
        while time.monotonic() < t_end:
            ex.spin_once(timeout_sec=0.01)
        for k in counts:
            counts[k] = 0
        sim0 = clock[-1]
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            ex.spin_once(timeout_sec=0.01)
        wall = time.monotonic() - t0
        sim = clock[-1] - sim0
        imgs = ", ".join(f"{c} {counts[c] / wall:.1f} Hz" for c in cfg.cameras) if render else "off"
        print(f"[{robot}] sim_node real-time mode, rendering {'on' if render else 'off'}: "
              f"/joint_states {counts['js'] / wall:.0f} msg/s (wall), sim RTF {sim / wall:.2f}, images: {imgs}")
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        stop_process(proc, timeout_s=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--robots", default="franka,aloha")
    ap.add_argument("--seconds", type=float, default=6.0, help="sim seconds (part 1) / wall seconds (part 2)")
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--rate-hz", type=float, default=10.0)
    ap.add_argument("--skip-node", action="store_true")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")
    for robot in a.robots.split(","):
        bench_env(robot, a.seconds, a.width, a.height, a.rate_hz)
        if not a.skip_node:
            bench_node(robot, a.seconds, False, a.width, a.height, a.rate_hz)
            bench_node(robot, a.seconds, True, a.width, a.height, a.rate_hz)
    return 0


if __name__ == "__main__":
    sys.exit(main())
