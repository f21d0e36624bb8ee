"""Record scripted-expert demonstrations into a vla_common.dataset directory.

    python -m vla_sim.record_demos --robot franka --task pick_cube --episodes 20 \\
        --seed-start 0 --out data/franka_pick

``--task`` takes one task, a comma-separated list or ``all`` (round robin). Only successful
episodes are written unless ``--keep-failed``; failed seeds are skipped and reported, and the
next seeds are tried until N episodes are written (at most 2N + 10 attempts). Instructions use
the TRAINING phrasings only (held-out paraphrases never enter a dataset).
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402

from vla_sim.controller_loop import COMMAND_PATHS  # noqa: E402 (stored per episode as extra.command_path)
from vla_sim.experts import RETRY_TASKS, MissFirst  # noqa: E402

MIN_RETRY_FRAMES = 50  # a retry demonstration holds at least 1 s (at 50 Hz) after the miss


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--robot", default="franka", choices=["franka", "aloha"])
    p.add_argument("--task", default="all", help="task name, comma-separated list, or 'all'")
    p.add_argument("--episodes", type=int, required=True, help="episodes to write")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--out", required=True, help="dataset directory")
    p.add_argument("--append", action="store_true", help="add to an existing dataset")
    p.add_argument("--fps", type=float, default=50.0, help="state/action rate")
    p.add_argument("--image-every-k", type=int, default=5, help="an image every k frames (50/5 = 10 Hz)")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--no-images", action="store_true", help="state/action only (fast)")
    p.add_argument("--keep-failed", action="store_true", help="also write failed episodes (success=false)")
    p.add_argument("--command-path", default=COMMAND_PATHS[0], choices=COMMAND_PATHS,
                   help="controller: the expert's targets go through the controller core with the "
                        "stack's parameters (as deployed: target delay, velocity and acceleration "
                        "limits); direct: straight to the position actuators (datasets before Dec 2)")
    p.add_argument("--miss-first", action="store_true",
                   help="retry demonstrations (Franka pick/place, ALOHA transfer_cube): the first "
                        "grasp closes beside the cube (Franka: 2-4 cm; ALOHA: 1-3.5 cm beside and "
                        "1-3.5 cm above), then the expert re-plans and succeeds; frames before the "
                        "retry are kept for replay but marked as not a demonstration "
                        "(extra.train_from_frame)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    p.add_argument("--config-dir", default=None)
    a = p.parse_args(argv)
    if a.episodes < 1:
        p.error("--episodes must be >= 1")
    if a.fps <= 0 or a.image_every_k < 1 or a.width < 8 or a.height < 8:
        p.error("--fps must be > 0, --image-every-k >= 1, --width/--height >= 8")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    from tqdm import tqdm

    from vla_common.config import ConfigError, load_robot_config
    from vla_common.dataset import DatasetError, DatasetInfo, DatasetWriter
    from vla_controller.config_file import make_controller
    from vla_sim.experts import make_expert, run_episode
    from vla_sim.factory import make_env
    try:
        cfg = load_robot_config(a.robot, "sim", a.config_dir)
        env = make_env(cfg)
    except (ConfigError, ValueError) as e:
        print(f"record_demos: error: {e}", file=sys.stderr)
        return 2
    tasks = list(env.tasks) if a.task == "all" else [t.strip() for t in a.task.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in env.tasks]
    if unknown or not tasks:
        print(f"record_demos: error: unknown task(s) {unknown}; known: {list(env.tasks)}", file=sys.stderr)
        return 2
    cams = () if a.no_images else tuple(cfg.cameras)
    info = DatasetInfo(robot=a.robot, fps=a.fps, state_names=tuple(env.command_names),
                       action_names=tuple(env.command_names), cameras=cams, image_every_k=a.image_every_k)
    try:
        writer = DatasetWriter(a.out, info, append=a.append)
    except DatasetError as e:
        print(f"record_demos: error: {e}", file=sys.stderr)
        return 2
    try:
        expert = make_expert(env)
        no_retry = sorted(set(tasks) - set(RETRY_TASKS.get(a.robot, ()))) if a.miss_first else []
        if no_retry:
            raise ValueError(f"retry demonstrations (--miss-first) exist for {a.robot} tasks "
                             f"{list(RETRY_TASKS.get(a.robot, ()))} only, not {no_retry}")
    except ValueError as e:
        print(f"record_demos: error: {e}", file=sys.stderr)
        return 2
    period = 1.0 / a.fps
    written = attempts = 0
    failed_seeds: list[int] = []
    bar = tqdm(total=a.episodes, unit="ep", desc=f"{a.robot} demos", disable=a.no_progress)
    seed = a.seed_start
    try:
        while written < a.episodes and attempts < 2 * a.episodes + 10:
            task = tasks[attempts % len(tasks)]
            frames = []

            def on_frame(k, t, state, action):
                imgs = None
                if cams and k % a.image_every_k == 0:
                    imgs = {c: env.render(c, a.width, a.height) for c in cams}
                frames.append((state.copy(), action.copy(), t, imgs))

            ctrl = make_controller(cfg) if a.command_path == "controller" else None
            miss = MissFirst.sample_for(a.robot, np.random.default_rng(seed)) if a.miss_first else None
            if miss is not None:
                expert = make_expert(env, miss)
            ok, instruction, n = run_episode(env, task, seed, expert, period, on_frame=on_frame,
                                             controller=ctrl)
            attempts += 1
            extra = {"params": env.task_params, "command_path": a.command_path}
            if miss is not None:
                extra["miss_first"] = dataclasses.asdict(miss)
                extra["train_from_frame"] = train_from = int(np.ceil(expert.train_from_s / period - 1e-9))
                # the cube came up during the miss itself: no retry to learn from
                ok = ok and n - train_from >= MIN_RETRY_FRAMES and not expert.miss_spoiled
            if ok or a.keep_failed:
                writer.start_episode(instruction, task=task, seed=seed, extra=extra)
                for s, act, t, imgs in frames:
                    writer.add_frame(s, act, t, imgs)
                writer.end_episode(ok)
                written += 1
                bar.update(1)
            if not ok:
                failed_seeds.append(seed)
            bar.set_postfix(success=f"{attempts - len(failed_seeds)}/{attempts}")
            seed += 1
    except KeyboardInterrupt:
        print("record_demos: interrupted; episodes written so far are kept", file=sys.stderr)
    finally:
        bar.close()
        writer.close()
        env.close()
    print(f"record_demos: wrote {written} episodes to {a.out} ({attempts} attempts, "
          f"failed seeds: {failed_seeds or 'none'})")
    return 0 if written == a.episodes else 1


if __name__ == "__main__":
    sys.exit(main())
