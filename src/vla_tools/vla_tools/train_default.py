"""Train the embedded default dual-system policy end to end (System 2 + System 1, one loss).

    python -m vla_tools.train_default --robot franka --tasks pick_cube,place_cube_on_plate \\
        --episodes 300 --steps 4000 --out models/franka

1. Demonstrations: for each task, reuses ``<data-dir>/<robot>_<task>`` when it holds at least
   ``--episodes`` successful episodes, else records them with the scripted experts
   (``python -m vla_sim.record_demos``; training seeds ``task_index * 5000 + [0, N)``, all below
   10000: evaluation seeds start at 100000).
2. Caches what is frozen: images decoded and resized once to the planner's input size; one MiniLM
   embedding per instruction string (episode instructions + the other TRAINING phrasings of the
   same task and colours; held-out phrasings never enter training).
3. Trains the planner (CNN + fusion + projection) and the flow-matching action expert together:
   the expert's flow-matching loss back-propagates through the latent into the planner; the
   latent comes from an observation 100-300 ms older than the expert's state input (the
   deployment latency). A small auxiliary head (training only) regresses the expert's grasp /
   release joint targets from the latent, which speeds up learning what the latent must carry.
4. Writes ``<out>/planner`` and ``<out>/action_expert`` (safetensors + config.json, expert also
   normalization.json, both training.json with the exact command and the final losses), and
   intermediate checkpoints + optimizer state in ``--run-dir`` (``--resume`` continues).
5. Optionally (``--eval-episodes N``) runs N in-process closed-loop episodes per task on seeds
   from 100000 and prints the success rates.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

from vla_sim.controller_loop import COMMAND_PATHS, UNRECORDED_COMMAND_PATH  # noqa: E402

TRAIN_SEED_STRIDE = 5000   # task k records seeds k*5000 + [0, N); evaluation uses >= 100000
RETRY_SEED_OFFSET = 3300   # retry demonstrations of task k: seeds k*5000 + 3300 + [0, R)
EVAL_SEED_START = 100000
STATE_FILE = "trainer_state.pt"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--robot", default="franka", choices=["franka", "aloha"])
    p.add_argument("--tasks", default="pick_cube", help="comma-separated sim task names")
    p.add_argument("--episodes", type=int, default=400, help="demonstrations per task")
    p.add_argument("--retry-episodes", type=int, default=0,
                   help="retry demonstrations per task (record_demos --miss-first: a planned "
                        "empty grasp beside the cube, then the task; only the retry is trained "
                        "on; Franka pick/place, ALOHA transfer_cube), in "
                        "<data-dir>/<robot>_<task>_retry")
    p.add_argument("--data-dir", default="data/demos")
    p.add_argument("--record-jobs", type=int, default=2,
                   help="recordings run at once (one per dataset dir: normal and retry, per task)")
    p.add_argument("--command-path", default=COMMAND_PATHS[0], choices=COMMAND_PATHS,
                   help="how recorded demonstrations reach the simulated arm (record_demos): "
                        "through the controller core as deployed, or straight to the actuators")
    p.add_argument("--out", default=None, help="checkpoint root (default models/<robot>)")
    p.add_argument("--run-dir", default=None, help="intermediate checkpoints (default runs/train_<robot>)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--steps", type=int, default=200000, help="upper bound; --max-minutes usually ends the run")
    p.add_argument("--max-minutes", type=float, default=80.0, help="stop training after this long")
    p.add_argument("--frames", type=int, default=16, help="System 2 observations per batch")
    p.add_argument("--repeats", type=int, default=4, help="System 1 samples per observation")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--planner-lr-scale", type=float, default=1.0)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--aux-weight", type=float, default=2.0, help="0 disables the auxiliary head")
    p.add_argument("--state-noise", type=float, default=0.02)
    p.add_argument("--extra-phrasings", action="store_true",
                   help="augment instructions also with the training-only paraphrases "
                        "(vla_sim.instructions.AUGMENT_TEMPLATES; never the held-out ones)")
    p.add_argument("--instruction-match", default="nearest", choices=("nearest", "exact", "off"),
                   help="write planner/instructions.json: the planner gives the model the nearest "
                        "trained instruction (or only accepts trained ones); off: no file, any "
                        "text goes to the model as is")
    p.add_argument("--instruction-min-similarity", type=float, default=0.5,
                   help="nearest: refuse instructions less similar (cosine) to every trained one")
    p.add_argument("--instruction-min-margin", type=float, default=0.03,
                   help="nearest: refuse as ambiguous when a trained instruction of another "
                        "meaning is within this similarity of the closest")
    p.add_argument("--text-noise-std", type=float, default=0.0,
                   help="std of Gaussian noise added per dimension to the unit-norm instruction "
                        "embedding before it is renormalized (robustness to unseen phrasings)")
    p.add_argument("--image-shift-px", type=int, default=3)
    p.add_argument("--delay-min-s", type=float, default=0.1)
    p.add_argument("--delay-max-s", type=float, default=0.3)
    p.add_argument("--image-size-px", type=int, default=64)
    p.add_argument("--wrist-image-size", type=int, default=0,
                   help="System 1 also reads the newest frame of each --wrist-camera at this side "
                        "(0: off; must equal --image-size-px: the cached planner frames are used)")
    p.add_argument("--wrist-camera", default="wrist",
                   help="camera(s) System 1 reads as its wrist image, comma-separated (several are "
                        "stacked along channels; ALOHA: left_wrist,right_wrist); saved in the "
                        "checkpoint's wrist_cameras")
    p.add_argument("--latent-dim", type=int, default=128)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--cnn-channels", default="16,32,64",
                   help="one stride-2 stage each: 3 stages keep an 8x8 map at 64 px")
    p.add_argument("--fusion-layers", type=int, default=2)
    p.add_argument("--token-grid", type=int, default=8, help="image tokens per camera side")
    p.add_argument("--film", type=int, default=1, help="1: the instruction FiLM-modulates the CNN")
    p.add_argument("--keypoints", type=int, default=16, help="spatial-softmax keypoints per camera")
    p.add_argument("--keypoint-stage", type=int, default=1, help="CNN stage the keypoints read")
    p.add_argument("--horizon", type=int, default=16)
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--num-blocks", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-whiten-components", type=int, default=32,
                   help="init the planner's text projection to whitened instruction PCs (0: off)")
    p.add_argument("--init-from", default=None,
                   help="start from a trainer_state.pt or a checkpoint root such as models/franka "
                        "(its weights and normalization; fresh optimizer and schedule)")
    p.add_argument("--torch-threads", type=int, default=2)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--eval-episodes", type=int, default=0, help="in-process eval episodes per task")
    p.add_argument("--max-load-episodes", type=int, default=0, help="debug: load at most N per task")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--config-dir", default=None)
    a = p.parse_args(argv)
    if not -1.0 <= a.instruction_min_similarity <= 1.0:
        p.error("--instruction-min-similarity must be in [-1, 1]")
    if not 0.0 <= a.instruction_min_margin <= 2.0:
        p.error("--instruction-min-margin must be in [0, 2]")
    if not 0.0 <= a.text_noise_std < 1.0:
        p.error("--text-noise-std must be in [0, 1)")
    if a.episodes < 1 or a.steps < 1 or a.frames < 1 or a.repeats < 1:
        p.error("--episodes, --steps, --frames and --repeats must be >= 1")
    if a.wrist_image_size not in (0, a.image_size_px):
        p.error(f"--wrist-image-size must be 0 or --image-size-px ({a.image_size_px})")
    # record_demos tries up to 2N + 10 seeds: the normal and retry seed ranges must not overlap
    if a.retry_episodes < 0 or (a.retry_episodes and (
            2 * a.episodes + 10 > RETRY_SEED_OFFSET
            or RETRY_SEED_OFFSET + 2 * a.retry_episodes + 10 > TRAIN_SEED_STRIDE)):
        p.error(f"--retry-episodes needs --episodes <= {(RETRY_SEED_OFFSET - 10) // 2} and "
                f"0 <= --retry-episodes <= {(TRAIN_SEED_STRIDE - RETRY_SEED_OFFSET - 10) // 2}")
    return a


def plan_demos(robot: str, tasks: list[str], episodes: int, data_dir: Path,
               command_path: str = COMMAND_PATHS[0], retry: bool = False
               ) -> tuple[list[Path], list[list[str]]]:
    """Dataset dirs of ``episodes`` successful demonstrations per task, and the
    ``record_demos`` commands that would record the missing ones (reusing what is there).

    Only episodes recorded through ``command_path`` count (``record_demos --command-path``;
    datasets from before Dec 2 have no such field: ``direct``). ``retry``: the retry
    demonstrations (``record_demos --miss-first``) in ``<robot>_<task>_retry``.

    Raises:
        RuntimeError: the directory holds episodes of the other command path (mixing would
            train on two different state/action relations).
    """
    from vla_common.dataset import DatasetError, DatasetReader
    dirs, cmds = [], []
    for k, task in enumerate(tasks):
        d = data_dir / (f"{robot}_{task}" + ("_retry" if retry else ""))
        seed0 = k * TRAIN_SEED_STRIDE + (RETRY_SEED_OFFSET if retry else 0)
        have = 0
        if d.exists():
            try:
                metas = DatasetReader(d).episodes
            except DatasetError:
                metas = []
            paths = {(m.get("extra") or {}).get("command_path", UNRECORDED_COMMAND_PATH)
                     for m in metas}
            if paths - {command_path}:
                raise RuntimeError(f"{d} holds demonstrations recorded with command path(s) "
                                   f"{sorted(paths - {command_path})}, not {command_path!r}: "
                                   "use another --data-dir")
            have = sum(1 for m in metas if m.get("success"))
        if have < episodes:
            cmd = [sys.executable, "-m", "vla_sim.record_demos", "--robot", robot, "--task", task,
                   "--episodes", str(episodes - have), "--seed-start", str(seed0 + have * 2),
                   "--out", str(d), "--command-path", command_path] + (["--miss-first"] if retry else [])
            if have:
                cmd.append("--append")
            cmds.append(cmd)
        dirs.append(d)
    return dirs, cmds


def run_recordings(cmds: list[list[str]], jobs: int = 1, log=print) -> None:
    """Run ``record_demos`` commands, up to ``jobs`` at a time (each writes its own dataset
    dir, and each is one single-threaded simulator: one per core).

    Raises:
        RuntimeError: a recording failed (exit code 1 means some seeds failed, which
            ``record_demos`` skips; anything else is an error).
    """
    pending, running = list(cmds), []
    failed = []
    while pending or running:
        while pending and len(running) < max(1, jobs):
            cmd = pending.pop(0)
            log(f"recording: {shlex.join(cmd)}")
            running.append((cmd, subprocess.Popen(cmd)))
        done = [r for r in running if r[1].poll() is not None]
        if not done:
            time.sleep(0.2)
            continue
        for cmd, proc in done:
            running.remove((cmd, proc))
            if proc.returncode not in (0, 1):
                failed.append(f"{shlex.join(cmd)} (exit code {proc.returncode})")
    if failed:
        raise RuntimeError("record_demos failed: " + "; ".join(failed))


def _lr_factor(step: int, total: int, warmup: int, time_frac: float = 0.0) -> float:
    """Linear warm-up, then cosine to 10 % over the steps or the time budget (whichever
    runs out first, so a run stopped by its time budget still ends at a low rate)."""
    if step < warmup:
        return (step + 1) / warmup
    prog = min(1.0, max((step - warmup) / max(1, total - warmup), time_frac))
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * prog))


def main(argv=None) -> int:
    a = parse_args(argv)
    import numpy as np
    import torch
    from tqdm import tqdm

    from vla_action_expert.configuration import default_config
    from vla_common.config import ConfigError, find_config_dir, load_robot_config
    from vla_common.dataset import DatasetError
    from vla_planner.embedded import EmbeddedPlannerConfig
    from vla_planner.instruction_match import INSTRUCTIONS_FILE, InstructionSet, \
        group_by_shared_phrasings, write_instruction_set
    from vla_tools.training_data import BatchConfig, DemoSampler, EmbeddingTable, aux_stats, \
        grasp_columns, instruction_variants, load_demos
    from vla_tools.training_model import (DualSystem, apply_gradients, make_optimizer,
                                          norm_from_episodes, parameter_groups, total_loss)

    t_start = time.monotonic()
    command = "python -m vla_tools.train_default " + shlex.join(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(max(1, a.torch_threads))
    try:
        robot = load_robot_config(a.robot, "sim", a.config_dir)
    except ConfigError as e:
        print(f"train_default: error: {e}", file=sys.stderr)
        return 2
    repo = find_config_dir(a.config_dir).parent
    out = Path(a.out) if a.out else repo / "models" / a.robot
    run_dir = Path(a.run_dir) if a.run_dir else repo / "runs" / f"train_{a.robot}"
    tasks = [t.strip() for t in a.tasks.split(",") if t.strip()]
    init_sd, init_norm = None, None
    if a.init_from:  # before recording demonstrations: a bad path fails at once
        from vla_tools.training_model import init_state_from
        try:
            init_sd, init_norm = init_state_from(a.init_from)
        except (FileNotFoundError, OSError) as e:
            print(f"train_default: error: --init-from: {e}", file=sys.stderr)
            return 2
    names = tuple(robot.command_names)
    cams = tuple(robot.cameras)
    wrist_cams = tuple(c.strip() for c in a.wrist_camera.split(",") if c.strip()) \
        if a.wrist_image_size else ()
    bad = [c for c in wrist_cams if c not in cams]
    if a.wrist_image_size and (bad or not wrist_cams or len(set(wrist_cams)) != len(wrist_cams)):
        print(f"train_default: error: --wrist-camera {a.wrist_camera!r} must name distinct "
              f"cameras of the robot {list(cams)}", file=sys.stderr)
        return 2
    grasp_groups = grasp_columns(robot)
    try:
        roots, cmds = plan_demos(a.robot, tasks, a.episodes, Path(a.data_dir), a.command_path)
        retry_roots, retry_cmds = (plan_demos(a.robot, tasks, a.retry_episodes, Path(a.data_dir),
                                              a.command_path, retry=True)
                                   if a.retry_episodes else ([], []))
        if not cmds + retry_cmds:
            print(f"train_default: reusing the demonstrations in "
                  f"{', '.join(map(str, roots + retry_roots))}")
        run_recordings([c + ["--no-progress"] if a.no_progress else c for c in cmds + retry_cmds],
                       a.record_jobs)
        eps = load_demos(roots, cams, names, a.image_size_px, grasp_groups,
                         max_episodes=a.max_load_episodes or a.episodes, progress=not a.no_progress)
        if retry_roots:
            eps += load_demos(retry_roots, cams, names, a.image_size_px, grasp_groups,
                              max_episodes=a.max_load_episodes or a.retry_episodes,
                              progress=not a.no_progress)
            roots += retry_roots
    except (DatasetError, RuntimeError) as e:
        print(f"train_default: error: {e}", file=sys.stderr)
        return 2
    print(f"train_default: {len(eps)} episodes, {sum(len(e.state) for e in eps)} frames, "
          f"{sum(len(e.img_frames) for e in eps)} image frames ({a.image_size_px} px), "
          f"loaded in {time.monotonic() - t_start:.0f} s")
    # each episode's interchangeable phrasings: the embedding table, and the checkpoint's
    # instruction set (planner/instructions.json) below
    variant_lists = [instruction_variants(e, a.extra_phrasings) for e in eps]
    table = EmbeddingTable([s for v in variant_lists for s in v])
    norm = norm_from_episodes(names, eps)
    if init_norm is not None:
        if tuple(init_norm.names) != names:
            print(f"train_default: error: --init-from {a.init_from} is for joints "
                  f"{list(init_norm.names)}, this robot has {list(names)}", file=sys.stderr)
            return 2
        norm = init_norm
    pcfg = EmbeddedPlannerConfig(latent_dim=a.latent_dim, cameras=cams, robot=a.robot,
                                 image_size_px=a.image_size_px, d_model=a.d_model,
                                 cnn_channels=tuple(int(c) for c in a.cnn_channels.split(",")),
                                 n_layers=a.fusion_layers, ff_dim=2 * a.d_model,
                                 token_grid=a.token_grid, film=bool(a.film),
                                 keypoints=a.keypoints, keypoint_stage=a.keypoint_stage)
    ecfg = default_config(a.robot, names, latent_dim=a.latent_dim, horizon=a.horizon,
                          hidden_dim=a.hidden_dim, num_blocks=a.num_blocks, seed=a.seed,
                          wrist_image_size=a.wrist_image_size,
                          wrist_image_channels=3 * max(1, len(wrist_cams)), wrist_cameras=wrist_cams)
    bc = BatchConfig(frames=a.frames, repeats=a.repeats, horizon=ecfg.horizon,
                     step_period_s=ecfg.step_period_s, delay_min_s=a.delay_min_s,
                     delay_max_s=a.delay_max_s, extra_phrasings=a.extra_phrasings,
                     wrist_camera_indices=tuple(cams.index(c) for c in wrist_cams))
    sampler = DemoSampler(eps, table, bc)
    torch.manual_seed(a.seed)
    stats = None
    if a.aux_weight > 0:
        stats = aux_stats(np.stack([e.aux for e in eps]), np.stack([e.aux_mask for e in eps]))
    model = DualSystem(pcfg, ecfg, norm, stats)
    if init_sd is not None:
        own = model.state_dict()
        keep = {k: v for k, v in init_sd.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(keep, strict=False)
        print(f"train_default: initialized {len(keep)}/{len(own)} tensors from {a.init_from} "
              f"(others: shape differs or new, fresh init)")
        if model.expert.wrist is not None and "expert.wrist.out.weight" not in keep:
            # a new wrist branch starts silent: the run starts from the loaded policy's behaviour
            torch.nn.init.zeros_(model.expert.wrist.out.weight)
            torch.nn.init.zeros_(model.expert.wrist.out.bias)
            print("train_default: new wrist-image branch of System 1, output initialized to zero")
    if a.text_whiten_components > 0 and not a.resume and init_sd is None:  # keep a trained one
        from vla_tools.training_model import whiten_text_projection
        k = whiten_text_projection(model.planner.text_proj, table.table, a.text_whiten_components)
        print(f"train_default: text projection = {k} whitened instruction components")
    groups = parameter_groups(model, a.lr, a.planner_lr_scale)
    base_lrs = [g["lr"] for g in groups]
    opt = make_optimizer(groups, a.weight_decay)
    rng = np.random.default_rng(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    step = 0
    history: list[dict] = []
    run_dir.mkdir(parents=True, exist_ok=True)
    if a.resume and (run_dir / STATE_FILE).is_file():
        st = torch.load(run_dir / STATE_FILE, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, history = st["step"], st["history"]
        rng.bit_generator.state = st["rng"]
        gen.set_state(st["gen"])
        print(f"train_default: resumed at step {step}")
    n_params = {"planner": sum(p.numel() for p in model.planner.parameters()),
                "action_expert": sum(p.numel() for p in model.expert.parameters())}
    print(f"train_default: parameters {n_params}; {len(table.texts)} instruction strings; "
          f"batch {a.frames} observations x {a.repeats} = {a.frames * a.repeats} chunks")

    iset = None
    if a.instruction_match != "off":
        texts, groups = group_by_shared_phrasings(variant_lists)
        iset = InstructionSet(texts, a.instruction_match, a.instruction_min_similarity, groups,
                              a.instruction_min_margin)

    def checkpoint(final: bool) -> None:
        meta = {"command": command, "step": step, "history_tail": history[-5:],
                "tasks": tasks, "episodes_per_task": a.episodes, "datasets": [str(r) for r in roots],
                "train_seed_ranges": [[k * TRAIN_SEED_STRIDE, k * TRAIN_SEED_STRIDE + 2 * a.episodes + 10]
                                      for k in range(len(tasks))] + (
                    [[k * TRAIN_SEED_STRIDE + RETRY_SEED_OFFSET,
                      k * TRAIN_SEED_STRIDE + RETRY_SEED_OFFSET + 2 * a.retry_episodes + 10]
                     for k in range(len(tasks))] if a.retry_episodes else []),
                "retry_episodes_per_task": a.retry_episodes,
                "wall_minutes": round((time.monotonic() - t_start) / 60, 2),
                "delay_range_s": [a.delay_min_s, a.delay_max_s], "aux_weight": a.aux_weight,
                "parameters": n_params}
        tgt = out if final else run_dir / "latest"
        model.save(tgt / "planner", tgt / "action_expert", meta)
        if iset is not None:
            write_instruction_set(tgt / "planner", iset)
        else:  # a file left by an earlier run into the same directory would not describe this one
            (tgt / "planner" / INSTRUCTIONS_FILE).unlink(missing_ok=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "history": history, "rng": rng.bit_generator.state, "gen": gen.get_state()},
                   run_dir / STATE_FILE)

    bar = tqdm(total=a.steps, initial=step, desc="train S2+S1", unit="step",
               disable=a.no_progress, dynamic_ncols=True)
    recent: list[tuple[float, float]] = []
    deadline = t_start + a.max_minutes * 60
    t_train0 = time.monotonic()
    stopped_early = False
    model.train()
    while step < a.steps:
        if time.monotonic() > deadline:
            stopped_early = True
            break
        f = _lr_factor(step, a.steps, a.warmup_steps,
                       (time.monotonic() - t_train0) / max(1.0, deadline - t_train0))
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * f
        batch = sampler.sample(rng)
        ls = model.losses(batch, table.table, gen, a.state_noise, a.image_shift_px,
                          a.text_noise_std)
        loss = total_loss(ls, a.aux_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        apply_gradients(model, opt)
        step += 1
        recent.append((ls["flow"].item(), ls["aux"].item()))
        bar.update(1)
        if step % 25 == 0:
            fl, ax = np.mean(recent[-25:], axis=0)
            bar.set_postfix(flow=f"{fl:.4f}", aux=f"{ax:.4f}")
            history.append({"step": step, "flow": round(float(fl), 5), "aux": round(float(ax), 5),
                            "minutes": round((time.monotonic() - t_start) / 60, 2)})
        if step % a.ckpt_every == 0:
            checkpoint(final=False)
    bar.close()
    checkpoint(final=True)
    summary = {"steps": step, "stopped_at_time_budget": stopped_early,
               "final_flow_loss": history[-1]["flow"] if history else None,
               "final_aux_loss": history[-1]["aux"] if history else None,
               "wall_minutes": round((time.monotonic() - t_start) / 60, 2),
               "planner_dir": str(out / "planner"), "action_expert_dir": str(out / "action_expert"),
               "command": command}
    if a.eval_episodes > 0:
        from vla_tools.evaluate import evaluate_inproc
        res = evaluate_inproc(a.robot, tasks, list(range(EVAL_SEED_START, EVAL_SEED_START + a.eval_episodes)),
                              out / "planner", out / "action_expert", modes=("async",),
                              progress=not a.no_progress)
        summary["eval"] = {t: res["summary"]["async"][t]["success_rate"] for t in tasks}
    (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n=== train_default summary ===")
    for k, v in summary.items():
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
