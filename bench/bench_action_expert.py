#!/usr/bin/env python3
"""Benchmark System 1 (vla_action_expert) on this CPU. Prints measured figures only.

1. Chunk inference latency p50/p99 of the default model (Franka and ALOHA sizes; K Euler steps;
   with and without the RTC guide) for 1 and 2 torch threads.
2. The real node, standalone (random-init checkpoint, wall clock, private ROS domain), fed
   latents at 8 Hz and joint states at 100 Hz from this process: achieved ActionStep rate and
   period jitter at 200 Hz (from the node's own stamps and from arrival times here), and the
   node's in-process inference p50/p99 from its diagnostics.
3. Jerk and jump at chunk boundaries for naive / ensemble / rtc under injected inference delays,
   closed loop with a small model trained here on synthetic multimodal demonstrations.

  .venv/bin/python bench/bench_action_expert.py [--iters 500] [--stream-s 10] [--train-steps 1500]
      [--skip-node] [--only inference node boundaries] [--json out.json]
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
import torch

from vla_action_expert.data import synthetic_episodes
from vla_action_expert.execution_sim import boundary_metrics, simulate_execution
from vla_action_expert.executor import ExecutorConfig
from vla_action_expert.init_checkpoint import random_init_policy
from vla_action_expert.latent import StateProjectionLatent
from vla_action_expert.train import TrainConfig, Trainer
from vla_action_expert.configuration import default_config
from vla_action_expert.data import SamplerConfig
from vla_common.config import load_robot_config
from vla_common.timing import RollingStats

REPO = Path(__file__).resolve().parents[1]


def bench_inference(robot_name: str, threads: int, iters: int, guided: bool) -> dict:
    torch.set_num_threads(threads)
    robot = load_robot_config(robot_name, "sim")
    pol = random_init_policy(robot, seed=0)
    cfg = pol.config
    rng = np.random.default_rng(0)
    obs = {"latent": rng.normal(size=cfg.latent_dim), "latent_age_s": 0.15,
           "state": pol.norm.state_mean.astype(float)}
    guide = None
    if guided:
        w = np.zeros(cfg.horizon)
        w[:5] = 1.0
        guide = (np.tile(pol.norm.action_mean, (cfg.horizon, 1)), w)
    for _ in range(20):  # warm-up, excluded
        pol.predict_action_chunk(obs, guide=guide)
    st = RollingStats(iters)
    for _ in range(iters):
        t0 = time.perf_counter()
        pol.predict_action_chunk(obs, guide=guide)
        st.add(time.perf_counter() - t0)
    n_params = sum(p.numel() for p in pol.model.parameters())
    return {"robot": robot_name, "threads": threads, "guided": guided, "params": n_params,
            "H": cfg.horizon, "D": cfg.action_dim, "K": cfg.num_inference_steps,
            "p50_ms": st.percentile(50) * 1e3, "p99_ms": st.percentile(99) * 1e3,
            "max_ms": st.percentile(100) * 1e3}


def bench_node_stream(duration_s: float) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from vla_common.ros_qos import SENSOR_PUB, STREAM
    from vla_common.testing import claim_domain_id, graph_env, stop_process
    from vla_interfaces.msg import ActionStep, Latent

    robot = load_robot_config("franka", "sim")
    tmp = Path(tempfile.mkdtemp(prefix="bench_ae_"))
    random_init_policy(robot, seed=0).save_pretrained(tmp / "ck")
    did = claim_domain_id()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_action_expert.action_expert_node", "--ros-args",
         "-r", "__node:=vla_action_expert", "--params-file", str(REPO / "config/franka_sim.yaml"),
         "-p", "use_sim_time:=false", "-p", f"vla_action_expert:checkpoint_dir:={tmp / 'ck'}"],
        env=graph_env(did), stdout=open(tmp / "node.log", "w"), stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node("bench_ae", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    stamps, arrivals, diags = [], [], []

    def on_step(m):
        arrivals.append(time.monotonic())
        stamps.append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)

    node.create_subscription(ActionStep, "/vla/action", on_step, STREAM)
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diags.extend(
        s for s in m.status if s.name == "vla_action_expert"), STREAM)
    js_pub = node.create_publisher(JointState, "/joint_states", SENSOR_PUB)
    lat_pub = node.create_publisher(Latent, "/vla/latent", STREAM)
    names = list(robot.command_names)
    q = robot.home_rad.tolist() + [0.04]

    def run(seconds):
        end = time.monotonic() + seconds
        nj = nl = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= nj:
                m = JointState(name=names, position=q)
                m.header.stamp = node.get_clock().now().to_msg()
                js_pub.publish(m)
                nj = now + 0.01
            if now >= nl:
                m = Latent(latent=np.random.default_rng(int(now * 1e3)).normal(size=128)
                           .astype(np.float32).tolist())
                m.header.stamp = node.get_clock().now().to_msg()
                lat_pub.publish(m)
                nl = now + 0.125
            ex.spin_once(timeout_sec=0.002)
            if proc.poll() is not None:
                raise RuntimeError("node died: " + (tmp / "node.log").read_text()[-2000:])

    try:
        t_wait = time.monotonic() + 90
        while len(stamps) < 200 and time.monotonic() < t_wait:
            run(0.5)
        run(2.0)  # settle
        k = len(stamps)
        run(duration_s)
        st, ar = np.array(stamps[k:]), np.array(arrivals[k:])
    finally:
        stop_process(proc, timeout_s=20)
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    per_node = np.diff(st)
    per_arr = np.diff(ar)
    last = {kv.key: kv.value for kv in diags[-1].values} if diags else {}
    return {"target_hz": 200.0, "samples": int(len(st)),
            "rate_hz_node_stamps": float(1.0 / per_node.mean()),
            "rate_hz_received": float(len(ar) / (ar[-1] - ar[0])) if len(ar) > 1 else 0.0,
            "period_p50_ms": float(np.percentile(per_node, 50) * 1e3),
            "period_p99_ms": float(np.percentile(per_node, 99) * 1e3),
            "jitter_p99_ms_node_stamps": float(np.percentile(np.abs(per_node - 0.005), 99) * 1e3),
            "jitter_p99_ms_received": float(np.percentile(np.abs(per_arr - 0.005), 99) * 1e3),
            "node_inference_p50_ms": last.get("inference_p50_ms"),
            "node_inference_p99_ms": last.get("inference_p99_ms"),
            "node_mode": last.get("mode")}


def bench_boundaries(train_steps: int, delays_s, seed: int = 0) -> list[dict]:
    torch.set_num_threads(2)
    D = 8
    names = tuple(f"j{i}" for i in range(D))
    eps = synthetic_episodes(60, D, seed=seed, T=200)
    mcfg = default_config("bench", names, latent_dim=32, hidden_dim=128, num_blocks=2, seed=seed)
    latent_fn = StateProjectionLatent(D, 32, seed=seed)
    tr = Trainer(mcfg, eps[:54], eps[54:], latent_fn,
                 TrainConfig(steps=train_steps, batch_size=64, val_every=max(train_steps // 5, 1),
                             seed=seed), SamplerConfig(mcfg.horizon, mcfg.step_period_s))
    hist = tr.fit(progress=False)
    pol = tr.policy
    pol.model.eval()
    torch.set_num_threads(1)

    def obs_fn(t, state):
        with torch.no_grad():
            lat = latent_fn({"observation.state": torch.tensor(state, dtype=torch.float32)[None]})
        return {"latent": lat[0].numpy(), "latent_age_s": 0.15, "state": state}

    rows = []
    for d in delays_s:
        for strat in ("naive", "ensemble", "rtc"):
            pol.reset()
            res = simulate_execution(lambda o, g: pol.predict_action_chunk(o, guide=g), obs_fn,
                                     ExecutorConfig(strategy=strat), mcfg.horizon,
                                     mcfg.step_period_s, eps[55].state[0].astype(float),
                                     duration_s=6.0, delay_s=d)
            rows.append({"delay_ms": d * 1e3, "strategy": strat, **boundary_metrics(res),
                         "val_loss": hist[-1][2]})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--stream-s", type=float, default=10.0)
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--delays-ms", type=float, nargs="+", default=[40.0, 60.0, 80.0])
    ap.add_argument("--skip-node", action="store_true")
    ap.add_argument("--only", nargs="+", choices=("inference", "node", "boundaries"),
                    default=("inference", "node", "boundaries"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    out: dict = {"cpu_count": os.cpu_count(), "torch": torch.__version__,
                 "loadavg": os.getloadavg()}
    print(f"# vla_action_expert benchmark (cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f})")

    if "inference" in a.only:
        print("\n## chunk inference latency (default model, random weights; size is what matters)")
    out["inference"] = []
    for robot in (("franka", "aloha") if "inference" in a.only else ()):
        for threads in (1, 2):
            for guided in (False, True):
                r = bench_inference(robot, threads, a.iters, guided)
                out["inference"].append(r)
                print(f"{robot:6s} params {r['params']:,} H={r['H']} D={r['D']} K={r['K']} "
                      f"threads {threads} {'rtc-guided' if guided else 'free      '}: "
                      f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.2f} ms")

    if not a.skip_node and "node" in a.only:
        print(f"\n## node stream, standalone, 200 Hz target, {a.stream_s:g} s")
        s = bench_node_stream(a.stream_s)
        out["stream"] = s
        print(f"rate {s['rate_hz_node_stamps']:.1f} Hz (node stamps), {s['rate_hz_received']:.1f} Hz "
              f"(received); period p50 {s['period_p50_ms']:.3f} ms p99 {s['period_p99_ms']:.3f} ms; "
              f"jitter p99 {s['jitter_p99_ms_node_stamps']:.3f} ms (node stamps), "
              f"{s['jitter_p99_ms_received']:.3f} ms (received); node inference p50 "
              f"{s['node_inference_p50_ms']} ms p99 {s['node_inference_p99_ms']} ms "
              f"(mode {s['node_mode']}, n={s['samples']})")

    if "boundaries" not in a.only:
        if a.json:
            Path(a.json).write_text(json.dumps(out, indent=2, default=str))
        return 0
    print(f"\n## chunk boundaries under injected inference delay (model trained "
          f"{a.train_steps} steps on synthetic demos; stream 200 Hz, rows 20 ms, new chunk "
          f"every 100 ms)")
    rows = bench_boundaries(a.train_steps, [d / 1e3 for d in a.delays_ms])
    out["boundaries"] = rows
    print(f"(val loss {rows[0]['val_loss']:.3f}; jump = deviation from constant-velocity "
          f"continuation at the switch, rad over 8 DoF; jerk = max |d3a/dt3| near the switch)")
    for r in rows:
        print(f"delay {r['delay_ms']:4.0f} ms {r['strategy']:8s}: jump mean {r['jump_mean']:.5f} "
              f"max {r['jump_max']:.5f}; boundary jerk p50 {r['jerk_p50']:.1f} max "
              f"{r['jerk_max']:.1f} rad/s^3 (whole-stream p50 {r['jerk_all_p50']:.1f})")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
