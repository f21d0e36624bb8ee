"""Evaluate the dual-system policy on seeded sim episodes; both execution modes side by side.

    python -m vla_tools.evaluate --robot franka --tasks pick_cube,place_cube_on_plate \\
        --seeds 100000:100050 --modes async,sync --backend ros --out runs/eval_franka

``--backend ros`` runs the real multi-process ROS graph in sim time: the stack starts once per
mode, and per episode the sim task is reset through the /vla_sim/reset service, the instruction
is published, and the episode ends at success or its sim-time limit. ``--backend inproc`` runs
the same ROS-free cores in one process (fast; no DDS or safety gate): the stream goes through the
controller core with the graph's parameters, as in the graph (``--no-controller``: straight to the
simulator's position actuators, as before Dec 2).

``--instructions FILE`` gives the phrasings (``task: template`` lines with ``{color}``,
``{plate_color}``, ``{direction}`` ...; ``#`` comments); each episode uses template
``seed % n`` of its task, so unseen paraphrases can be tested (config/instructions/heldout.txt).
Without it each episode uses the sim's sampled TRAINING phrasing of that seed.

Outputs in ``--out``: ``episodes.jsonl`` (one line per episode: success, time to success,
wrong-object picks, jerk, safety events, rates), ``summary.json`` (per mode and task) and
``report.html`` + ``report.png`` (``vla_tools.eval_report``). Evaluation seeds must be disjoint
from the training seeds (< 100000); lower seeds are refused unless ``--allow-train-seeds``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

EVAL_SEED_MIN = 100000


def parse_seeds(text: str) -> list[int]:
    """'A:B' (B exclusive) or 'a,b,c' -> seeds.

    Raises:
        ValueError: malformed or empty.
    """
    text = text.strip()
    if ":" in text:
        a, b = text.split(":", 1)
        seeds = list(range(int(a), int(b)))
    else:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds:
        raise ValueError(f"no seeds in '{text}'")
    return seeds


def read_instruction_file(path: str | Path) -> dict[str, list[str]]:
    """``task: template`` lines -> {task: [templates]}.

    Raises:
        ValueError: missing file, a line without ``task:``, or no templates.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"instruction file not found: {p}")
    out: dict[str, list[str]] = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        task, sep, tmpl = s.partition(":")
        if not sep or not task.strip() or not tmpl.strip():
            raise ValueError(f"{p}:{n}: expected 'task: template', got {s!r}")
        out.setdefault(task.strip(), []).append(tmpl.strip())
    if not out:
        raise ValueError(f"{p}: no instructions")
    return out


def instruction_for(templates: dict[str, list[str]] | None, task: str, seed: int,
                    params: dict) -> str | None:
    """The file's phrasing for this episode (None: no file, or no line for the task).

    Raises:
        ValueError: the template names a field the task does not have.
    """
    if not templates or task not in templates:
        return None
    t = templates[task][seed % len(templates[task])]
    try:
        return t.format(**params)
    except KeyError as e:
        raise ValueError(f"instruction template {t!r} needs {e} which task '{task}' lacks") from e


def summarize(results: Sequence[dict]) -> dict:
    """Per mode, per task: n, success rate, mean time to success, wrong-object picks, episodes
    that lifted any task object (progress short of success, e.g. ALOHA's giving arm lifting the
    cube without the handover; None when no episode reports ``extra.lifted_objects``), jerk,
    safety events, mean action / chunk / latent rates."""
    import numpy as np
    out: dict = {}
    for r in results:
        out.setdefault(r["mode"], {}).setdefault(r["task"], []).append(r)
    summ: dict = {}
    for mode, per in out.items():
        summ[mode] = {}
        for task, rs in per.items():
            succ = [r for r in rs if r["success"]]
            tts = [r["time_to_success_s"] for r in succ if r.get("time_to_success_s") is not None]

            def mean(key, rows=rs):
                v = [r[key] for r in rows if r.get(key) is not None and np.isfinite(r[key])]
                return round(float(np.mean(v)), 4) if v else None
            wrong = [r["wrong_object_picks"] for r in rs if r.get("wrong_object_picks") is not None]
            lifted = [(r.get("extra") or {}).get("lifted_objects") for r in rs]
            lifted = [v for v in lifted if v is not None]
            summ[mode][task] = {
                "episodes": len(rs), "successes": len(succ),
                "success_rate": round(len(succ) / len(rs), 4),
                "mean_time_to_success_s": round(float(np.mean(tts)), 3) if tts else None,
                "episodes_with_wrong_object_pick": int(sum(1 for w in wrong if w > 0)) if wrong else None,
                "episodes_with_lift": int(sum(1 for v in lifted if v)) if lifted else None,
                "mean_jerk_rms_rad_s3": mean("jerk_rms_rad_s3"),
                "safety_events": int(sum(r.get("safety_events") or 0 for r in rs)),
                # the planner refused the instruction (e.g. ambiguous): the arm never moved
                "instructions_refused": int(sum(1 for r in rs
                                                if (r.get("extra") or {}).get("instruction_refused"))),
                "mean_action_rate_hz": mean("action_rate_hz"),
                "mean_chunk_rate_hz": mean("chunk_rate_hz"),
                "mean_latent_rate_hz": mean("latent_rate_hz"),
                "s1_compute_ms_p50": mean("s1_compute_ms_p50"),
                "s2_compute_ms_p50": mean("s2_compute_ms_p50"),
            }
    return summ


def evaluate_inproc(robot: str, tasks: Sequence[str], seeds: Sequence[int], planner_dir, expert_dir,
                    modes: Sequence[str] = ("async", "sync"), templates=None, progress: bool = True,
                    on_result=None, fixed_delays_s=None, torch_threads: int = 1,
                    controller: bool = True, inference_rate_hz: float | None = None) -> dict:
    """Run every (mode, task, seed) in process; returns {"episodes": [...], "summary": {...}}.

    ``inference_rate_hz``: async mode's chunk request rate (None: the action expert's
    ``inference_rate_hz`` in ``config/<robot>_sim.yaml``); sync mode requests a chunk when the last one is used up.
    """
    import torch
    from tqdm import tqdm

    from vla_tools.training_rollout import RolloutConfig, make_inproc_stack

    torch.set_num_threads(torch_threads)
    # the nodes' chunk execution (execution_strategy & co.) from config/<robot>_sim.yaml
    stack = make_inproc_stack(robot, planner_dir, expert_dir, controller=controller)
    env = stack.env
    rollout_kw = {"fixed_delays_s": fixed_delays_s}  # the same for every episode
    if inference_rate_hz is not None:
        rollout_kw["inference_rate_hz"] = inference_rate_hz
    # the nodes' rates, from config/<robot>_sim.yaml (one source of truth)
    rollouts = {m: RolloutConfig.from_params(robot, m, **rollout_kw) for m in modes}
    results = []
    jobs = [(m, t, s) for m in modes for t in tasks for s in seeds]
    bar = tqdm(jobs, desc="eval (inproc)", unit="ep", disable=not progress, dynamic_ncols=True)
    try:
        for mode, task, seed in bar:
            instr = None
            if templates:
                env.reset(task, seed)
                instr = instruction_for(templates, task, seed, env.task_params)
            r = stack.run_episode(task, seed, instr, rollouts[mode])
            d = r.to_json()
            d["extra"]["controller"] = controller
            d["extra"]["rollout"] = dataclasses.asdict(rollouts[mode])  # the rates it ran at
            results.append(d)
            if on_result:
                on_result(d)
            ok = sum(x["success"] for x in results if x["mode"] == mode and x["task"] == task)
            n = sum(1 for x in results if x["mode"] == mode and x["task"] == task)
            bar.set_postfix_str(f"{mode} {task} {ok}/{n}")
    finally:
        env.close()
    return {"episodes": results, "summary": summarize(results)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="franka", choices=["franka", "aloha"])
    ap.add_argument("--tasks", default="pick_cube")
    ap.add_argument("--seeds", default=f"{EVAL_SEED_MIN}:{EVAL_SEED_MIN + 50}",
                    help="A:B (B exclusive) or a comma list")
    ap.add_argument("--modes", default="async,sync", help="async (dual system), sync (baseline)")
    ap.add_argument("--backend", default="ros", choices=["ros", "inproc"])
    ap.add_argument("--instructions", default=None, help="file of 'task: template' lines")
    ap.add_argument("--models", default=None, help="checkpoint root (default models/<robot>)")
    ap.add_argument("--out", default=None, help="output directory (default runs/eval_<robot>_<time>)")
    ap.add_argument("--allow-train-seeds", action="store_true")
    ap.add_argument("--fixed-delays-ms", default=None,
                    help="inproc only: 'S2,S1' sim delays instead of the measured compute times")
    ap.add_argument("--no-controller", action="store_true",
                    help="inproc only: the stream goes straight to the simulator's position "
                         "actuators (no controller core: no target delay, no velocity and "
                         "acceleration limits)")
    ap.add_argument("--inference-rate-hz", type=float, default=None,
                    help="async mode's chunk requests per second (default: the action expert's "
                         "inference_rate_hz in config/<robot>_sim.yaml; the ros backend writes it "
                         "into the episode's params file)")
    ap.add_argument("--real-time-factor", type=float, default=1.0,
                    help="ros backend: the simulator's pace (vla_sim real_time_factor); < 1 gives "
                         "a loaded 2-core machine the CPU to run every node at its rate in sim "
                         "time (model latencies then count less in sim time)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    try:
        seeds = parse_seeds(a.seeds)
        templates = read_instruction_file(a.instructions) if a.instructions else None
    except ValueError as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 2
    if min(seeds) < EVAL_SEED_MIN and not a.allow_train_seeds:
        print(f"evaluate: error: seeds below {EVAL_SEED_MIN} may be training seeds "
              "(use --allow-train-seeds to evaluate on them anyway)", file=sys.stderr)
        return 2
    if a.inference_rate_hz is not None:
        if not (math.isfinite(a.inference_rate_hz) and a.inference_rate_hz > 0):
            print(f"evaluate: error: --inference-rate-hz must be a finite number > 0, got "
                  f"{a.inference_rate_hz}", file=sys.stderr)
            return 2
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("async", "sync")]
    if bad or not modes:
        print(f"evaluate: error: unknown mode(s) {bad}; use async,sync", file=sys.stderr)
        return 2
    tasks = [t.strip() for t in a.tasks.split(",") if t.strip()]
    from vla_common.config import find_config_dir
    models = Path(a.models) if a.models else find_config_dir().parent / "models" / a.robot
    out = Path(a.out or f"runs/eval_{a.robot}_{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    ep_file = (out / "episodes.jsonl").open("w")
    done: list[dict] = []  # every finished episode, so an interrupted run still gets its summary

    def on_result(d: dict) -> None:
        done.append(d)
        ep_file.write(json.dumps(d, default=str) + "\n")
        ep_file.flush()

    t0 = time.monotonic()
    meta = {"command": "python -m vla_tools.evaluate " + " ".join(sys.argv[1:] if argv is None else argv),
            "robot": a.robot, "tasks": tasks, "seeds": [min(seeds), max(seeds)], "n_seeds": len(seeds),
            "modes": modes, "backend": a.backend, "instructions": a.instructions,
            "models": str(models), "real_time_factor": a.real_time_factor,
            "controller": a.backend == "ros" or not a.no_controller,
            "inference_rate_hz": a.inference_rate_hz}
    interrupted = False
    try:
        if a.backend == "inproc":
            fd = tuple(float(x) / 1e3 for x in a.fixed_delays_ms.split(",")) if a.fixed_delays_ms else None
            evaluate_inproc(a.robot, tasks, seeds, models / "planner", models / "action_expert",
                            modes, templates, not a.no_progress, on_result, fd,
                            controller=not a.no_controller, inference_rate_hz=a.inference_rate_hz)
        else:
            from vla_tools.ros_eval_graph import evaluate_graph
            evaluate_graph(a.robot, tasks, seeds, models, modes, templates, out,
                           progress=not a.no_progress, on_result=on_result,
                           sim_real_time_factor=a.real_time_factor,
                           inference_rate_hz=a.inference_rate_hz)
    except (ValueError, OSError) as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C (the stack is already stopped by the backends' cleanup): keep what finished
        interrupted = True
        print(f"\nevaluate: interrupted after {len(done)} of {len(modes) * len(tasks) * len(seeds)} "
              "episodes; writing the summary of those", file=sys.stderr)
    finally:
        ep_file.close()
    if not done:
        print("evaluate: no episode finished; nothing to summarize", file=sys.stderr)
        return 130 if interrupted else 2
    meta["wall_minutes"] = round((time.monotonic() - t0) / 60, 2)
    meta["episodes_done"] = len(done)
    meta["interrupted"] = interrupted
    summ = summarize(done)
    (out / "summary.json").write_text(json.dumps({"meta": meta, "summary": summ}, indent=2,
                                                 default=str) + "\n")
    from vla_tools.eval_report import write_report
    write_report(out)
    print_table(summ)
    print(f"evaluate: wrote {out}/episodes.jsonl, summary.json, report.html, report.png"
          + (" (partial: interrupted)" if interrupted else ""))
    return 130 if interrupted else 0


def print_table(summary: dict, out=sys.stdout) -> None:
    w = out.write
    w("\nmode   task                    n   success  t_success_s  wrong  action_Hz  chunk_Hz  latent_Hz\n")
    for mode, per in summary.items():
        for task, s in per.items():
            w(f"{mode:6s} {task:22s} {s['episodes']:3d}   {s['success_rate']:6.1%}  "
              f"{s['mean_time_to_success_s'] if s['mean_time_to_success_s'] is not None else '-':>10}  "
              f"{s['episodes_with_wrong_object_pick'] if s['episodes_with_wrong_object_pick'] is not None else '-':>5}  "
              f"{_num(s['mean_action_rate_hz'], 9, 1)}  {_num(s['mean_chunk_rate_hz'], 8, 2)}  "
              f"{_num(s['mean_latent_rate_hz'], 9, 2)}\n")
            if s.get("instructions_refused"):
                w(f"       ({s['instructions_refused']} instruction(s) refused by the planner: "
                  "the arm did not move; see extra.instruction_refused in episodes.jsonl)\n")


def _num(v, width: int, digits: int) -> str:
    return f"{v:{width}.{digits}f}" if v is not None else f"{'-':>{width}}"


if __name__ == "__main__":
    sys.exit(main())
