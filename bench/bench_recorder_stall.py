#!/usr/bin/env python3
"""Benchmark what a stalled recorder loses from a fast reliable stream, per publisher history.

A publisher node in this process streams a small message at ``--rate-hz`` (the 200 Hz action
stream) next to a ``--payload-kb`` message at ``--payload-hz`` (camera-sized, so the recorder's
transport queue overflows while it is stopped); the recorder node (its own process) is frozen
with SIGSTOP ``--stalls`` x ``--stall-s``. Printed per publisher QoS: published / received /
written / lost upstream of the fast stream (the recorder's own report).

  .venv/bin/python bench/bench_recorder_stall.py [--stalls 4] [--stall-s 0.4] [--rate-hz 200]
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vla_common.testing import claim_domain_id, graph_env
from vla_tools.bags.reader import BagReader

FAST, BIG = "/stall_bench/fast", "/stall_bench/big"


def run_once(qos_name: str, args, tmp: Path) -> dict:
    import rclpy
    from std_msgs.msg import String

    from vla_common.ros_qos import STREAM, stream_pub
    qos = {"STREAM": STREAM, f"stream_pub({args.rate_hz:g})": stream_pub(args.rate_hz)}[qos_name]
    dom = claim_domain_id()
    bag = tmp / qos_name.replace("(", "_").replace(")", "")
    rec = subprocess.Popen(
        [sys.executable, "-m", "vla_tools.bags.recorder_node", "--ros-args",
         "-p", f"output_dir:={bag}",
         "-p", "use_sim_time:=false", "-p", "exclude_topics:=['*']",
         "-p", f"extra_topics:=['{FAST}:std_msgs/msg/String','{BIG}:std_msgs/msg/String']"],
        env=graph_env(dom), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=dom)
    node = rclpy.create_node("stall_bench", context=ctx)
    fast = node.create_publisher(String, FAST, qos)
    big = node.create_publisher(String, BIG, stream_pub(args.payload_hz))
    payload = String(data="x" * (args.payload_kb * 1024))
    every = max(1, round(args.rate_hz / args.payload_hz))
    sent = 0
    next_t = time.monotonic()

    def stream(duration_s: float) -> None:
        nonlocal sent, next_t
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            fast.publish(String(data=str(sent)))
            sent += 1
            if sent % every == 0:
                big.publish(payload)
            next_t += 1.0 / args.rate_hz
            time.sleep(max(0.0, next_t - time.monotonic()))
    try:
        deadline = time.monotonic() + 60
        while fast.get_subscription_count() < 1 or big.get_subscription_count() < 1:
            assert rec.poll() is None and time.monotonic() < deadline, "recorder never subscribed"
            time.sleep(0.1)
        time.sleep(2.0)  # discovery both ways
        next_t = time.monotonic()
        stream(1.0)
        for _ in range(args.stalls):
            rec.send_signal(signal.SIGSTOP)
            try:
                stream(args.stall_s)
            finally:
                rec.send_signal(signal.SIGCONT)
            stream(1.0)
        stream(4.0)  # longer than the writer's 3 s heartbeat: gaps are reported before the end
        rec.send_signal(signal.SIGINT)
        out, _ = rec.communicate(timeout=60)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    meta = BagReader(bag).metadata or {}
    report = (meta.get("custom_data") or {}).get("vla_recorder")
    if report is None:  # the recorder's own counts, stored in the bag's metadata
        raise RuntimeError(f"no recorder report in {bag}/metadata.yaml:\n{out[-2000:]}")
    c = json.loads(report)["topics"][FAST]
    return {"qos": qos_name, "depth": qos.depth, "published": sent, "received": c["received"],
            "written": c["written"], "lost_upstream": c["lost_upstream"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stalls", type=int, default=4)
    ap.add_argument("--stall-s", type=float, default=0.4)
    ap.add_argument("--rate-hz", type=float, default=200.0)
    ap.add_argument("--payload-kb", type=int, default=48)
    ap.add_argument("--payload-hz", type=float, default=40.0)
    args = ap.parse_args()
    print(f"recorder SIGSTOPped {args.stalls} x {args.stall_s:g} s; fast stream {args.rate_hz:g} Hz "
          f"beside {args.payload_kb} KB at {args.payload_hz:g} Hz")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("STREAM", f"stream_pub({args.rate_hz:g})"):
            r = run_once(name, args, Path(tmp))
            print(f"{r['qos']:>18} depth {r['depth']:4d}: published {r['published']:5d} "
                  f"received {r['received']:5d} written {r['written']:5d} "
                  f"lost upstream {r['lost_upstream']:4d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
