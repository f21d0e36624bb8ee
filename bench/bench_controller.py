#!/usr/bin/env python3
"""Benchmark vla_controller on this CPU. Prints measured figures only.

1. Per-call compute time p50/p99 (microseconds) for Franka and ALOHA: full IK solve of a random
   reachable target (from home, with restarts), one tracking IK tick (3 warm-started iterations),
   the joint impedance law, the Cartesian impedance law, and a whole Controller.step (joint
   position space; ee_pose space with IK) in the robot's effort mode where it has one.
2. The real node (own process, wall clock, private ROS domain) fed joint states at ~500 Hz and
   ActionSteps at 50 Hz from this process: achieved command rate and period jitter measured at
   the receiver, and the node's own timer rate / period p99 / compute p99 from its diagnostics.

  .venv/bin/python bench/bench_controller.py [--iters 2000] [--ik-targets 300] [--node-s 8]
      [--skip-node] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def pct(xs_us: list[float]) -> dict[str, float]:
    a = np.asarray(xs_us)
    return {"p50_us": float(np.percentile(a, 50)), "p99_us": float(np.percentile(a, 99)),
            "n": int(a.size)}


def timeit_us(fn, iters: int) -> dict[str, float]:
    out = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e6)
    return pct(out)


def bench_core(robot: str, mode: str, iters: int, ik_targets: int) -> dict[str, object]:
    import pinocchio as pin

    from vla_common.config import load_robot_config
    from vla_controller import action_space as asp
    from vla_controller.controller import Controller, ControllerConfig, default_joint_gains
    from vla_controller.ik import IKSolver
    from vla_controller.impedance import (CartesianImpedance, CartesianImpedanceGains,
                                          JointImpedance, JointImpedanceGains, TorqueSaturator)
    from vla_controller.kinematics import load_kinematics

    cfg = load_robot_config(robot, mode)
    kin = load_kinematics(cfg)
    rng = np.random.default_rng(0)
    arm = cfg.arms[0].name
    ik = IKSolver(kin, arm)
    res: dict[str, object] = {"robot": robot, "mode": mode}

    # IK full solve over random reachable targets (accuracy as well as time)
    times, ok = [], 0
    for _ in range(ik_targets):
        q = cfg.home_rad.copy()
        q[ik.idx] = rng.uniform(ik.q_min, ik.q_max)
        p, R = kin.frame_pose(q, ik.frame)
        t0 = time.perf_counter()
        r = ik.solve(cfg.home_rad, p, R)
        times.append((time.perf_counter() - t0) * 1e6)
        ok += r.pos_err_m < 1e-3 and np.degrees(r.rot_err_rad) < 0.5
    res["ik_solve"] = pct(times) | {"success_rate": ok / ik_targets}

    # IK tracking tick: target moving 1 mm per tick, 3 iterations warm-started
    q = cfg.home_rad.copy()
    p0, R0 = kin.frame_pose(q, ik.frame)
    k = [0]

    def track():
        k[0] += 1
        r = ik.iterate(q, p0 + np.array([0.0, 1e-3 * (k[0] % 100), 0.0]), R0, 3, cfg.home_rad)
        q[:] = r.q
    res["ik_track_3iters"] = timeit_us(track, iters)

    lim = cfg.limits
    sat = TorqueSaturator(lim.effort_max_nm, lim.effort_rate_max_nm_s)
    K, D = default_joint_gains(cfg)
    jl = JointImpedance(kin, JointImpedanceGains(K, D), sat)
    qs = cfg.home_rad + 0.05
    dq = np.full(kin.nq, 0.1)
    res["joint_impedance"] = timeit_us(lambda: jl.torque(qs, dq, cfg.home_rad, dq * 0, 1e-3), iters)
    cl = CartesianImpedance(kin, CartesianImpedanceGains(), TorqueSaturator(
        lim.effort_max_nm, lim.effort_rate_max_nm_s))
    targets = {a: kin.frame_pose(cfg.home_rad, kin.ee_frames[a]) for a in kin.ee_frames}
    res["cartesian_impedance"] = timeit_us(
        lambda: cl.torque(qs, dq, targets, cfg.home_rad, 1e-3), iters)

    for space in (asp.JOINT_POSITION, asp.EE_POSE):
        c = Controller(cfg, kin, ControllerConfig(action_space=space))
        names = list(kin.joint_names) + [g.name for g in c.grippers]
        grip = np.array([g.width_max_m for g in c.grippers])
        an = asp.action_names(cfg, space)
        if space == asp.JOINT_POSITION:
            v = np.r_[np.concatenate([np.r_[cfg.home_rad[kin.arm_indices[a.name]] + 0.1,
                                            a.gripper.width_max_m] for a in cfg.arms])]
        else:
            v = np.concatenate([np.r_[targets[a.name][0] + 0.02, pin.log3(targets[a.name][1]),
                                      a.gripper.width_max_m] for a in cfg.arms])
        t = [0.0]
        c.on_joint_state(names, np.r_[cfg.home_rad, grip], np.zeros(len(names)), 0.0)
        c.on_target(an, v, 0.02, 0.0)

        def step():
            t[0] += c.period_s
            c.on_joint_state(names, np.r_[c.q_cmd if c.q_cmd is not None else cfg.home_rad,
                                          grip], np.zeros(len(names)), t[0])
            if int(t[0] / c.period_s) % 10 == 0:
                c.on_target(an, v, t[0] + 0.02, t[0])
            c.step(t[0])
        res[f"controller_step_{space}"] = timeit_us(step, iters) | {
            "law": c.law_name if c.any_effort else "position", "rate_hz": c.rate_hz}
    return res


def bench_node(robot: str, mode: str, duration_s: float, rate_hz: float) -> dict[str, object]:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from vla_common.config import load_robot_config
    from vla_common.ros_qos import COMMAND, SENSOR_PUB, STREAM
    from vla_common.testing import claim_domain_id, graph_env, stop_process
    from vla_interfaces.msg import ActionStep

    cfg = load_robot_config(robot, mode)
    did = claim_domain_id()
    # node-specific entries of a params file beat -p overrides: override in a second file
    override = Path(tempfile.mkdtemp()) / "override.yaml"
    override.write_text(f"vla_controller:\n  ros__parameters:\n    rate_hz: {rate_hz}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_controller.controller_node", "--ros-args",
         "-r", "__node:=vla_controller", "--params-file", str(REPO / f"config/{robot}_sim.yaml"),
         "--params-file", str(override),
         "-p", "use_sim_time:=false", "-p", f"mode:={mode}"],
        env=graph_env(did), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node("bench_controller", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    arrivals, diags = [], []
    node.create_subscription(JointState, "/vla/controller/command",
                             lambda m: arrivals.append(time.perf_counter()), COMMAND)
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diags.extend(
        {kv.key: kv.value for kv in s.values} for s in m.status if s.name == "vla_controller"),
        STREAM)
    js = node.create_publisher(JointState, "/joint_states", SENSOR_PUB)
    act = node.create_publisher(ActionStep, "/vla/action", STREAM)
    names = [j for j in cfg.command_names]
    home = []
    for a in cfg.arms:
        home += list(a.home_rad) + [a.gripper.width_max_m]
    home = np.array(home)
    try:
        t_start = time.monotonic()
        t_measure = None             # starts 1 s after the first command arrived
        next_js = next_act = 0.0
        k = 0
        while time.monotonic() - t_start < 120.0 and (
                t_measure is None or time.monotonic() - t_measure < duration_s):
            now = time.monotonic()
            if now >= next_js:
                js.publish(JointState(name=names, position=home.tolist(),
                                      velocity=[0.0] * len(names)))
                next_js = now + 0.002
            if now >= next_act:
                k += 1
                m = ActionStep(names=names, values=(home + 0.05 * np.sin(0.05 * k)).tolist())
                m.header.stamp = (node.get_clock().now()
                                  + rclpy.duration.Duration(seconds=0.02)).to_msg()
                act.publish(m)
                next_act = now + 0.02
            ex.spin_once(timeout_sec=0.0005)
            if t_measure is None and arrivals:
                t_measure = time.monotonic() + 1.0     # warm-up after start-up and discovery
            if t_measure is None or time.monotonic() < t_measure:
                arrivals.clear()
                diags.clear()
    finally:
        stop_process(proc, timeout_s=20)
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    out: dict[str, object] = {"robot": robot, "mode": mode, "received": len(arrivals)}
    if len(arrivals) > 10:
        per = np.diff(arrivals) * 1e3
        out |= {"rx_rate_hz": float((len(arrivals) - 1) / (arrivals[-1] - arrivals[0])),
                "rx_period_p50_ms": float(np.percentile(per, 50)),
                "rx_period_p99_ms": float(np.percentile(per, 99)),
                "rx_period_std_ms": float(np.std(per))}
    if diags:
        d = diags[-1]
        out |= {k: d.get(k) for k in ("rate_hz", "loop_rate_hz", "period_p50_ms",
                                       "period_p99_ms", "compute_p99_us", "mode")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--ik-targets", type=int, default=300)
    ap.add_argument("--node-s", type=float, default=8.0)
    ap.add_argument("--skip-node", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    results = {"core": [], "node": []}
    for robot, mode in (("franka", "sim_effort"), ("aloha", "sim")):
        r = bench_core(robot, mode, a.iters, a.ik_targets)
        results["core"].append(r)
        print(f"\n== core compute, {robot}/{mode} (microseconds per call)")
        for k, v in r.items():
            if isinstance(v, dict):
                extra = " ".join(f"{kk}={vv}" for kk, vv in v.items()
                                 if kk not in ("p50_us", "p99_us", "n"))
                print(f"  {k:34s} p50 {v['p50_us']:9.1f}  p99 {v['p99_us']:9.1f}  (n={v['n']}) {extra}")
    if not a.skip_node:
        for robot, mode, rate in (("franka", "sim_effort", 1000.0), ("franka", "sim", 500.0),
                                  ("aloha", "sim", 500.0)):
            r = bench_node(robot, mode, a.node_s, rate)
            results["node"].append(r)
            print(f"\n== node loop, {robot}/{mode} at {rate:.0f} Hz, {a.node_s:.0f} s, wall clock")
            for k, v in r.items():
                if k not in ("robot", "mode"):
                    print(f"  {k:20s} {v if not isinstance(v, float) else f'{v:.3f}'}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
