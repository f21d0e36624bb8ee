#!/usr/bin/env python3
"""Benchmark System 2 (vla_planner) backbones on this CPU: latency p50/p99 of one planner cycle
and the achievable rate (1 / mean latency), for
  - the embedded default (frozen MiniLM, cached instruction + CNN + fusion transformer),
    measured as the whole cycle the node runs: decode rgb8 buffers -> frame buffer -> latent;
  - a ~250M-parameter Idefics3 with SmolVLM-256M's published sizes (random weights, written with
    save_pretrained to a temp dir and loaded back through the user checkpoint path).
Two 128x128 rgb8 cameras, instruction fixed (as in operation, where it changes rarely).

  .venv/bin/python bench/bench_planner.py [--iters 200] [--hf-iters 8] [--threads 1 2]
      [--hf-image-px 512 256] [--skip-hf] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vla_common.timing import RollingStats  # noqa: E402
from vla_planner.backbone import load_backbone  # noqa: E402
from vla_planner.image_utils import decode_image  # noqa: E402
from vla_planner.planner_core import PlannerCore, PlannerNodeConfig  # noqa: E402

CAMS = ("scene", "wrist")
INSTR = "pick up the red cube and place it in the bowl"


def frames(k: int) -> dict[str, bytes]:
    rng = np.random.default_rng(k)
    return {c: rng.integers(0, 256, (128, 128, 3), dtype=np.uint8).tobytes() for c in CAMS}


def time_cycles(backbone, iters: int, warmup: int) -> dict:
    """Whole planner cycle: decode both cameras' buffers, add to the buffer, step the core."""
    core = PlannerCore(backbone, PlannerNodeConfig(latent_dim=backbone.latent_dim))
    core.set_instruction(INSTR)
    lat = RollingStats(window=iters)
    model = RollingStats(window=iters)
    pool = [frames(k) for k in range(8)]
    for i in range(warmup + iters):
        t_sim = i * 0.125
        t0 = time.perf_counter()
        for c, buf in pool[i % len(pool)].items():
            core.add_image(c, t_sim, decode_image(buf, 128, 128, "rgb8"))
        res = core.step(t_sim)
        dt = time.perf_counter() - t0
        if res.latent is None:
            raise RuntimeError(f"cycle skipped: {res.reason}")
        if i >= warmup:
            lat.add(dt)
            model.add(res.compute_time_s)
    s, m = lat.summary(), model.summary()
    return {"n": int(s["n"]), "cycle_p50_ms": s["p50"] * 1e3, "cycle_p99_ms": s["p99"] * 1e3,
            "model_p50_ms": m["p50"] * 1e3, "model_p99_ms": m["p99"] * 1e3,
            "achievable_rate_hz": 1.0 / s["mean"]}


def params_m(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def bench_embedded(iters: int, tmp: Path) -> dict:
    bb = load_backbone(tmp / "none", CAMS, allow_random_init=True, seed=0)
    t0 = time.perf_counter()
    bb.text.encode("a new instruction, not cached yet")
    first_text_ms = (time.perf_counter() - t0) * 1e3
    r = time_cycles(bb, iters, warmup=10)
    r["new_instruction_text_encode_ms"] = first_text_ms
    r["trainable_params_M"] = params_m(bb.model)
    r["frozen_text_params_M"] = params_m(bb.text.model)
    return r


def bench_hf(iters: int, image_px: int, tmp: Path) -> dict:
    from vla_planner import tiny_hf  # noqa: PLC0415
    from vla_planner.hf_backbone import HFBackboneConfig, write_hf_checkpoint  # noqa: PLC0415

    t0 = time.perf_counter()
    tiny_hf.write_smolvlm_256m_like(tmp / "smolvlm" / "backbone", image_size_px=image_px)
    write_hf_checkpoint(tmp / "smolvlm", HFBackboneConfig(latent_dim=128, cameras=CAMS,
                                                          hidden_layers=(-1,), pooling="mean"))
    bb = load_backbone(tmp / "smolvlm", CAMS, latent_dim=128)
    setup_s = time.perf_counter() - t0
    r = time_cycles(bb, iters, warmup=1)
    r["params_M"] = params_m(bb.model.vlm)
    r["image_px"] = image_px
    r["setup_s"] = setup_s
    r["seq_len"] = int(bb.inputs([np.zeros((128, 128, 3), np.uint8)] * 2, INSTR)["input_ids"].shape[1])
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--hf-iters", type=int, default=8)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--hf-image-px", type=int, nargs="+", default=[512, 256])
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    results = {"cpu_count": os.cpu_count(), "torch": torch.__version__, "runs": [],
               "loadavg_1m_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for th in a.threads:
            torch.set_num_threads(th)
            r = bench_embedded(a.iters, tmp)
            r.update(backbone="embedded_default", torch_threads=th)
            results["runs"].append(r)
            print(json.dumps(r), flush=True)
        if not a.skip_hf:
            for px in a.hf_image_px:
                for th in a.threads:
                    torch.set_num_threads(th)
                    r = bench_hf(a.hf_iters, px, tmp / f"t{th}_{px}")
                    r.update(backbone=f"idefics3_smolvlm256m_shape_random_{px}px", torch_threads=th)
                    results["runs"].append(r)
                    print(json.dumps(r), flush=True)
    print("\nbackbone                                        threads  params  cycle p50 ms  p99 ms  rate Hz")
    for r in results["runs"]:
        p = r.get("params_M", r.get("trainable_params_M", 0.0))
        print(f"{r['backbone']:<48}{r['torch_threads']:>7}  {p:6.1f}M  {r['cycle_p50_ms']:12.1f}"
              f"  {r['cycle_p99_ms']:6.1f}  {r['achievable_rate_hz']:7.2f}")
    results["loadavg_1m_end"] = os.getloadavg()[0]
    print(f"1-min load average (other processes share these cores): start "
          f"{results['loadavg_1m_start']:.2f}, end {results['loadavg_1m_end']:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
