#!/usr/bin/env python3
"""Benchmark the SHIPPED default dual-system weights on this CPU. Prints measured figures only.

1. System 2 (embedded planner: MiniLM cached + CNN + fusion) latency per latent, 1 torch thread,
   two 128x128 camera images -> p50/p99 ms and the rate it could sustain.
2. System 1 (flow-matching action expert) chunk inference p50/p99 ms, 1 torch thread, with the
   RTC guide (as the node runs it).
3. Optional (--episodes N): in-process closed-loop success on eval seeds from 100000
   (vla_tools.evaluate --backend inproc), both modes.

  .venv/bin/python bench/bench_default_policy.py [--robot franka] [--iters 300] [--episodes 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")


BENCH_TASK = {"franka": ("pick_cube", {"color": "red"}),
              "aloha": ("transfer_cube", {"color": "red", "from_arm": "left", "to_arm": "right"})}


def pct(v):
    v = np.asarray(v) * 1e3
    return f"p50 {np.percentile(v, 50):.2f} ms  p99 {np.percentile(v, 99):.2f} ms  (n={len(v)})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--robot", default="franka")
    ap.add_argument("--models", default=None)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--episodes", type=int, default=0)
    a = ap.parse_args()
    from vla_action_expert.policy import ActionExpertPolicy, stack_wrist_frames
    from vla_common.config import find_config_dir, load_robot_config
    from vla_planner.backbone import load_backbone
    from vla_sim.instructions import canonical_instruction
    torch.set_num_threads(1)
    models = Path(a.models) if a.models else find_config_dir().parent / "models" / a.robot
    cfg = load_robot_config(a.robot, "sim")
    bb = load_backbone(models / "planner", cfg.cameras)
    pol = ActionExpertPolicy.from_pretrained(models / "action_expert", cfg.command_names, bb.latent_dim)
    for sub in ("planner", "action_expert"):
        print(f"{sub}: {(models / sub / 'model.safetensors').stat().st_size / 1e6:.2f} MB")
    rng = np.random.default_rng(0)
    imgs = {c: rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for c in cfg.cameras}
    # the robot's default task, phrased by its canonical training template (vla_sim.instructions)
    task, params = BENCH_TASK[a.robot]
    text = canonical_instruction(task, params)
    for _ in range(10):
        bb.infer(imgs, text)
    s2 = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        bb.infer(imgs, text)
        s2.append(time.perf_counter() - t0)
    print(f"System 2 latent (1 thread): {pct(s2)}; sustainable {1.0 / np.percentile(s2, 99):.1f} Hz at p99")
    H, D = pol.config.horizon, pol.config.action_dim
    obs = {"latent": np.zeros(pol.config.latent_dim, np.float32), "latent_age_s": 0.2,
           "state": pol.norm.state_mean.astype(float)}
    # raw camera frames: their resize (and, for several wrist cameras, the runtime's stacking)
    # is part of the timed call
    wrist_frames = [imgs[c] for c in pol.config.wrist_camera_names(cfg.cameras[-1])]

    def wrist_input():
        return wrist_frames[0] if len(wrist_frames) == 1 else \
            stack_wrist_frames(wrist_frames, pol.config.wrist_image_size)
    if wrist_frames:
        obs["wrist_image"] = wrist_input()
    guide = (np.tile(pol.norm.action_mean, (H, 1)), np.r_[np.ones(3), np.linspace(1, 0, H - 3)])
    for _ in range(10):
        pol.predict_action_chunk(obs, guide=guide)
    s1 = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        if len(wrist_frames) > 1:
            obs["wrist_image"] = wrist_input()
        pol.predict_action_chunk(obs, guide=guide)
        s1.append(time.perf_counter() - t0)
    print(f"System 1 chunk H={H} D={D} K={pol.num_inference_steps} (1 thread, RTC guide): {pct(s1)}")
    if a.episodes:
        from vla_tools.evaluate import evaluate_inproc, print_table
        res = evaluate_inproc(a.robot, [task], list(range(100000, 100000 + a.episodes)),
                              models / "planner", models / "action_expert", ("async", "sync"))
        print_table(res["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
