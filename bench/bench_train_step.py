#!/usr/bin/env python3
"""Benchmark one training step of the default dual-system policy on this CPU. Prints measured
figures only.

The model is built from the shipped checkpoints' configs (`models/<robot>/planner/config.json`,
`action_expert/config.json`: the same architecture `train_default` trains), fed batches drawn by
the trainer's own `DemoSampler` from recorded demonstrations. Each step is split into sampling,
forward (both losses), backward and optimizer (clip + fused AdamW), each reported p50 / p99, plus
the steps per second they add up to: what a `--max-minutes` budget buys here.

Demonstrations: `--demos` (default `data/demos/<robot>_<task>`); when it is missing, a few are
recorded into a temporary directory first with `vla_sim.record_demos` (about a second each).

`--token-grid N` measures the what-if of N x N image tokens per camera instead of the
checkpoint's (the fusion transformer's cost grows with them).

  .venv/bin/python bench/bench_train_step.py [--robot franka] [--steps 100] [--threads 2] [--token-grid 4]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

TASK = {"franka": "pick_cube", "aloha": "transfer_cube"}


def pct(v_s) -> str:
    v = np.asarray(v_s) * 1e3
    return f"p50 {np.percentile(v, 50):7.2f} ms  p99 {np.percentile(v, 99):7.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--robot", default="franka", choices=sorted(TASK))
    ap.add_argument("--models", default=None, help="checkpoint root whose configs to use "
                                                   "(default models/<robot>)")
    ap.add_argument("--demos", default=None, help="dataset dir (default data/demos/<robot>_<task>)")
    ap.add_argument("--episodes", type=int, default=20, help="episodes to load (or record)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (train_default's default)")
    ap.add_argument("--frames", type=int, default=None, help="default: train_default's")
    ap.add_argument("--repeats", type=int, default=None, help="default: train_default's")
    ap.add_argument("--token-grid", type=int, default=0,
                    help="what-if: image tokens per camera side instead of the checkpoint's")
    a = ap.parse_args()

    import torch

    from vla_action_expert.configuration import ActionExpertConfig
    from vla_common.config import find_config_dir, load_robot_config
    from vla_planner.backbone import read_checkpoint_config
    from vla_planner.embedded import EmbeddedPlannerConfig
    from vla_tools.training_data import (BatchConfig, DemoSampler, EmbeddingTable, aux_stats,
                                         grasp_columns, instruction_variants, load_demos)
    from vla_tools.train_default import parse_args as trainer_defaults
    from vla_tools.training_model import (DualSystem, apply_gradients, make_optimizer,
                                          norm_from_episodes, parameter_groups, total_loss)

    t = trainer_defaults([])  # the trainer's batch, noise, delay and loss settings: one source
    frames, repeats = a.frames or t.frames, a.repeats or t.repeats
    torch.set_num_threads(a.threads)
    repo = find_config_dir().parent
    models = Path(a.models) if a.models else repo / "models" / a.robot
    try:
        pcfg = EmbeddedPlannerConfig.from_json(read_checkpoint_config(models / "planner"))
        ecfg = ActionExpertConfig.load(models / "action_expert" / "config.json")
    except (OSError, ValueError, TypeError) as e:
        print(f"bench_train_step: error: configs under {models}: {e}", file=sys.stderr)
        return 2
    if a.token_grid:
        pcfg = dataclasses.replace(pcfg, token_grid=a.token_grid)
    robot = load_robot_config(a.robot, "sim")
    names, cams = tuple(robot.command_names), tuple(robot.cameras)
    task = TASK[a.robot]
    demos = Path(a.demos) if a.demos else repo / "data" / "demos" / f"{a.robot}_{task}"
    tmp = None
    if not demos.is_dir() or not any(demos.iterdir()):
        tmp = tempfile.TemporaryDirectory(prefix="bench_train_step_")
        demos = Path(tmp.name) / f"{a.robot}_{task}"
        print(f"recording {a.episodes} demonstrations into {demos} ...", flush=True)
        subprocess.run([sys.executable, "-m", "vla_sim.record_demos", "--robot", a.robot,
                        "--task", task, "--episodes", str(a.episodes), "--out", str(demos),
                        "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    eps = load_demos([demos], cams, names, pcfg.image_size_px, grasp_columns(robot),
                     max_episodes=a.episodes, progress=False)
    variants = [instruction_variants(e, t.extra_phrasings) for e in eps]
    table = EmbeddingTable([s for v in variants for s in v])
    wrist_idx = tuple(cams.index(c) for c in ecfg.wrist_camera_names()) \
        if ecfg.wrist_image_size else ()
    bc = BatchConfig(frames=frames, repeats=repeats, horizon=ecfg.horizon,
                     step_period_s=ecfg.step_period_s, delay_min_s=t.delay_min_s,
                     delay_max_s=t.delay_max_s, extra_phrasings=t.extra_phrasings,
                     wrist_camera_indices=wrist_idx)
    sampler = DemoSampler(eps, table, bc)
    stats = aux_stats(np.stack([e.aux for e in eps]), np.stack([e.aux_mask for e in eps]))
    model = DualSystem(pcfg, ecfg, norm_from_episodes(names, eps), stats)
    model.train()
    opt = make_optimizer(parameter_groups(model, t.lr, t.planner_lr_scale), t.weight_decay)
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    parts: dict[str, list[float]] = {"sample": [], "forward": [], "backward": [], "optimizer": []}
    total: list[float] = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        batch = sampler.sample(rng)
        t1 = time.perf_counter()
        ls = model.losses(batch, table.table, gen, t.state_noise, t.image_shift_px, t.text_noise_std)
        loss = total_loss(ls, t.aux_weight)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        apply_gradients(model, opt)
        t4 = time.perf_counter()
        if i >= a.warmup:
            for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[k].append(dt)
            total.append(t4 - t0)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"=== training step, {a.robot} ({models}), {a.threads} torch thread(s), batch "
          f"{frames} observations x {repeats} chunks, token grid {pcfg.token_grid}, "
          f"{n_params} parameters, "
          f"{len(eps)} episodes, {a.steps} steps")
    for k, v in parts.items():
        print(f"  {k:<10} {pct(v)}")
    print(f"  {'step':<10} {pct(total)}  -> {1.0 / np.mean(total):.1f} steps/s, "
          f"{3600.0 / np.mean(total):.0f} steps/hour")
    print(json.dumps({"robot": a.robot, "threads": a.threads, "token_grid": pcfg.token_grid,
                      "step_ms_p50": round(float(np.percentile(total, 50)) * 1e3, 2),
                      "steps_per_s": round(1.0 / float(np.mean(total)), 2)}))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
