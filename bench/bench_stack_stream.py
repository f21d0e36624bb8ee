#!/usr/bin/env python3
"""System 1's action stream while the whole stack runs (issue #6). Prints measured figures only.

Starts sim (real time, both cameras rendered), safety, controller, action expert and planner as
separate processes on a private ROS domain (the same launcher as the demo), resets the default
task, sends the instruction, waits for the first latent, then measures for ``--seconds``:

- the ActionStep stream: rate and period p50/p99/max from the node's own header stamps (the
  tick times it streamed at) and from arrival times at this process;
- what each node reports in /diagnostics (expert stream rate / period p99 / inference p50/p99 /
  overrun cycles; controller loop rate; planner rate);
- the simulator's real-time factor (its diagnostics' sim time vs wall) and each node process's
  CPU share. This process subscribes only to the stream, latents and /diagnostics (no /clock,
  no images) so it takes little CPU itself; arrival figures include its own scheduling.

  .venv/bin/python bench/bench_stack_stream.py [--robot franka] [--seconds 20] [--clock wall|sim]
      [--json out.json]

``--clock wall`` (default) runs every node on the wall clock, as on hardware (the sim paces
itself to real time and stamps on the system clock, ``stamp_epoch: wall``); ``--clock sim`` runs
the stack under ``use_sim_time`` as the demo does, and periods are then in sim time.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

from vla_common.config import load_robot_config, load_topics  # noqa: E402
from vla_common.launcher import StackLauncher  # noqa: E402
from vla_common.testing import claim_domain_id, graph_env  # noqa: E402

NODES = ("vla_sim", "vla_safety", "vla_controller", "vla_action_expert", "vla_planner")


def _cpu_ticks(pid: int) -> int | None:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _periods_ms(t_s: list[float]) -> dict:
    if len(t_s) < 3:
        return {"n": len(t_s)}
    d = np.diff(np.asarray(t_s)) * 1e3
    span = t_s[-1] - t_s[0]
    return {"n": len(t_s), "rate_hz": round((len(t_s) - 1) / span, 2),
            "p50_ms": round(float(np.percentile(d, 50)), 3),
            "p99_ms": round(float(np.percentile(d, 99)), 3), "max_ms": round(float(d.max()), 3),
            "share_over_6ms": round(float(np.mean(d > 6.0)), 4)}


def _child_pids(pid: int) -> list[int]:
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except (OSError, ValueError):
        return []


def run(robot: str, seconds: float, clock: str, rt_priority: int = 0,
        stream_process: bool = True) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String
    from vla_common.ros_qos import LATCHED, STREAM
    from vla_interfaces.msg import ActionStep, Latent
    from vla_interfaces.srv import ResetTask

    cfg = load_robot_config(robot, "sim")
    topics = load_topics()
    params: dict[str, dict[str, object]] = {}
    if clock == "wall":
        for n in NODES:
            params[n] = {"use_sim_time": False}
    params.setdefault("vla_sim", {})["real_time_factor"] = 1.0
    if clock == "wall":  # the sim stamps on the system clock, like a robot driver
        params["vla_sim"]["stamp_epoch"] = "wall"
        params["vla_action_expert"]["stream_rt_priority"] = int(rt_priority)
        params["vla_action_expert"]["stream_process"] = bool(stream_process)
    domain = claim_domain_id()
    log_dir = Path(tempfile.mkdtemp(prefix="bench_stack_stream_"))
    launcher = StackLauncher(robot, "sim", log_dir, extra_params=params, env=graph_env(domain),
                             echo=None)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("bench_stack_stream", context=ctx)
    lock = threading.Lock()
    rec = {"stamps": [], "arrivals": [], "latents": 0, "clock": [], "diag": {}}
    measuring = threading.Event()

    def on_action(m):
        if measuring.is_set():
            with lock:
                rec["stamps"].append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)
                rec["arrivals"].append(time.monotonic())

    def on_latent(_m):
        rec["latents"] += 1

    def on_diag(m):
        for s in m.status:
            vals = {kv.key: kv.value for kv in s.values}
            rec["diag"][s.name] = vals
            if s.name == "vla_sim" and measuring.is_set() and "sim_time_s" in vals:
                rec["clock"].append((time.monotonic(), float(vals["sim_time_s"])))

    node.create_subscription(ActionStep, topics.action, on_action, STREAM)
    node.create_subscription(Latent, topics.latent, on_latent, STREAM)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, STREAM)
    instr_pub = node.create_publisher(String, topics.instruction, LATCHED)
    reset = node.create_client(ResetTask, topics.sim_reset_srv)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()
    out: dict = {"robot": robot, "clock": clock, "seconds": seconds, "rt_priority": rt_priority,
                 "stream_process": stream_process and clock == "wall"}
    try:
        launcher.start()
        if not reset.wait_for_service(timeout_sec=120.0):
            raise RuntimeError(f"sim reset service did not appear (logs: {log_dir})")
        fut = reset.call_async(ResetTask.Request(task="", seed=100000))
        t_end = time.monotonic() + 60
        while not fut.done() and time.monotonic() < t_end:
            time.sleep(0.05)
        instr = (fut.result().instruction if fut.done() and fut.result() else "") or "pick up the red cube"
        instr_pub.publish(String(data=instr))
        t_end = time.monotonic() + 300
        while rec["latents"] == 0:
            if launcher.poll() is not None or time.monotonic() > t_end:
                raise RuntimeError(f"no latent ({launcher.failure or 'timeout'}; logs: {log_dir})")
            time.sleep(0.1)
        time.sleep(3.0)  # let the stream settle (first chunks, warm caches)
        pids = {c.spec.name: c.proc.pid for c in launcher.children if c.proc is not None}
        for k, child in enumerate(_child_pids(pids.get("vla_action_expert", -1))):
            pids[f"vla_action_expert_stream{k or ''}"] = child  # the stream process
        cpu0 = {n: _cpu_ticks(p) for n, p in pids.items()}
        t0 = time.monotonic()
        measuring.set()
        time.sleep(seconds)
        measuring.clear()
        wall = time.monotonic() - t0
        hz = os.sysconf("SC_CLK_TCK")
        out["cpu_share_of_one_core"] = {
            n: round((_cpu_ticks(p) - cpu0[n]) / hz / wall, 3)
            for n, p in pids.items() if cpu0.get(n) is not None and _cpu_ticks(p) is not None}
        with lock:
            out["stream_from_node_stamps"] = _periods_ms(rec["stamps"])
            out["stream_at_subscriber"] = _periods_ms(rec["arrivals"])
            if len(rec["clock"]) >= 2:
                (w0, s0), (w1, s1) = rec["clock"][0], rec["clock"][-1]
                out["sim_real_time_factor"] = round((s1 - s0) / (w1 - w0), 3)
        keep = {"vla_action_expert": ("stream_process", "stream_rate_hz", "stream_period_p99_ms", "inference_p50_ms",
                                      "inference_p99_ms", "overrun_cycles", "mode"),
                "vla_controller": ("loop_rate_hz", "period_p99_ms", "mode"),
                "vla_planner": ("rate_hz", "compute_p50_ms", "compute_p99_ms", "overrun_cycles")}
        out["node_diagnostics"] = {n: {k: rec["diag"].get(n, {}).get(k) for k in ks}
                                   for n, ks in keep.items()}
        out["machine_load_1min"] = os.getloadavg()[0]
    finally:
        launcher.stop()
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="franka", choices=["franka", "aloha"])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clock", default="wall", choices=["wall", "sim"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--rt-priority", type=int, default=0,
                    help="wall clock: SCHED_FIFO priority of the expert's stream (0 = off)")
    ap.add_argument("--no-stream-process", action="store_true",
                    help="wall clock: stream from a thread of the expert's process (the old way)")
    a = ap.parse_args(argv)
    r = run(a.robot, a.seconds, a.clock, a.rt_priority, not a.no_stream_process)
    print(json.dumps(r, indent=2))
    s = r.get("stream_from_node_stamps", {})
    print(f"\n[{a.robot}, {a.clock} clock] action stream over {a.seconds:.0f} s with sim + planner + "
          f"controller + safety running: {s.get('rate_hz')} Hz, period p50 {s.get('p50_ms')} ms, "
          f"p99 {s.get('p99_ms')} ms, max {s.get('max_ms')} ms (node stamps); "
          f"stream {'process' if r['stream_process'] else 'thread/timer'}, rt priority "
          f"{a.rt_priority}; load {r.get('machine_load_1min'):.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
