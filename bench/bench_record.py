#!/usr/bin/env python3
"""Benchmark the bag recorder: a real rclpy publisher process sends the stack's topics at nominal
rates (x rate scale), the recorder node (its own process) writes MCAP; prints messages/s and MB/s
recorded and the drops (published vs received vs written) per run.

  .venv/bin/python bench/bench_record.py [--duration 10] [--scales 1 2 4] [--image-size 128]
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from vla_common.testing import claim_domain_id, graph_env
from vla_tools.bags.reader import BagReader


def run_once(scale: float, duration_s: float, image_size: int, tmp: Path) -> dict:
    dom = claim_domain_id()
    env = graph_env(dom)
    bag, pub_json = tmp / f"bag_x{scale:g}", tmp / f"pub_x{scale:g}.json"
    rec = subprocess.Popen([sys.executable, "-m", "vla_tools.bags.recorder_node", "--ros-args",
                            "-p", f"output_dir:={bag}", "-p", "use_sim_time:=false"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        subprocess.run([sys.executable, "-m", "vla_tools.bags.ros_synthetic_stack",
                        "--duration", str(duration_s), "--rate-scale", str(scale),
                        "--image-size", str(image_size), "--out", str(pub_json), "--linger", "2"],
                       env=env, check=True, capture_output=True, text=True, timeout=600)
    finally:
        rec.send_signal(signal.SIGINT)
        out, _ = rec.communicate(timeout=120)
    pub = json.loads(pub_json.read_text())
    m = re.search(r"received (\d+), written (\d+), dropped (\d+)", out)
    if not m:
        raise RuntimeError(f"no recorder report:\n{out}")
    received, written, dropped = map(int, m.groups())
    counts = BagReader(bag).info().topics
    missing = sum(max(0, n - (counts[t].count if t in counts else 0))
                  for t, n in pub["counts"].items())  # published but not in the bag
    size_b = sum(f.stat().st_size for f in bag.glob("*.mcap"))
    payload_b = sum(len(x.data) for x in BagReader(bag).messages())
    el = pub["elapsed_s"]
    return {"scale": scale, "published": sum(pub["counts"].values()), "received": received,
            "written": written, "dropped_in_recorder": dropped, "missing_vs_published": missing,
            "msgs_per_s": written / el, "payload_MB_per_s": payload_b / el / 1e6,
            "file_MB_per_s": size_b / el / 1e6, "elapsed_s": el}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    ap.add_argument("--image-size", type=int, default=128)
    a = ap.parse_args()
    print(f"recording the franka stack topics for {a.duration:.0f} s per run "
          f"(x1 = JointState/commands 500 Hz, actions 200 Hz, 2 cameras {a.image_size}px 10 Hz, "
          "latents 8 Hz); zstd chunks")
    print(f"{'scale':>5} {'published':>9} {'received':>9} {'written':>9} {'dropped':>7} "
          f"{'missing':>7} {'msgs/s':>8} {'payload MB/s':>12} {'file MB/s':>9}")
    with tempfile.TemporaryDirectory() as td:
        for s in a.scales:
            r = run_once(s, a.duration, a.image_size, Path(td))
            print(f"{r['scale']:>5g} {r['published']:>9d} {r['received']:>9d} {r['written']:>9d} "
                  f"{r['dropped_in_recorder']:>7d} {r['missing_vs_published']:>7d} "
                  f"{r['msgs_per_s']:>8.0f} {r['payload_MB_per_s']:>12.2f} {r['file_MB_per_s']:>9.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
