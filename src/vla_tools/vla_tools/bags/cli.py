"""ROS-free command lines: vla-bag-info, vla-rerun, vla-bag2dataset."""
from __future__ import annotations

import argparse
import json
import sys

from vla_common.config import ConfigError, load_robot_config, load_topics
from vla_tools.bags.errors import BagError


def info_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Topics, counts, rates and damage of a bag.")
    ap.add_argument("bag")
    a = ap.parse_args(argv)
    from vla_tools.bags.reader import BagReader  # noqa: PLC0415
    try:
        r = BagReader(a.bag)
    except BagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    info = r.info()
    print(info.summary())
    return 2 if info.error else 0


def rerun_main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Re-run a bag's observations through planner + action expert; report where "
                    "the new outputs differ from the recorded ones. Exit 0 = identical within "
                    "atol, 1 = diverged, 2 = error.")
    ap.add_argument("bag")
    ap.add_argument("--robot", default="franka")
    ap.add_argument("--mode", default="sim")
    ap.add_argument("--planner-checkpoint", default="")
    ap.add_argument("--expert-checkpoint", default="")
    ap.add_argument("--allow-random-init", action="store_true")
    ap.add_argument("--planner-seed", type=int, default=0, help="random-init seed")
    ap.add_argument("--expert-seed", type=int, default=0, help="random-init seed")
    ap.add_argument("--use-recorded-latents", action="store_true")
    ap.add_argument("--execution-strategy", default="rtc",
                    help="the expert node's execution_strategy when the bag was recorded")
    ap.add_argument("--interpolation", default="cubic")
    ap.add_argument("--wrist-camera", default="wrist",
                    help="the expert node's wrist_camera (only for a wrist-image checkpoint that "
                         "does not name its wrist_cameras)")
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--out", default="", help="report directory (report.html/json, PNGs)")
    ap.add_argument("--write-bag", default="", help="write observations + new outputs as a bag")
    a = ap.parse_args(argv)
    from vla_tools.bags.divergence import write_report  # noqa: PLC0415
    from vla_tools.bags.rerun import (RerunConfig, Rerunner, load_recorded,  # noqa: PLC0415
                                      write_rerun_bag)
    try:
        cfg = RerunConfig(robot=a.robot, mode=a.mode, planner_checkpoint=a.planner_checkpoint,
                          expert_checkpoint=a.expert_checkpoint,
                          allow_random_init=a.allow_random_init, planner_seed=a.planner_seed,
                          expert_seed=a.expert_seed,
                          use_recorded_latents=a.use_recorded_latents, atol_action=a.atol,
                          execution_strategy=a.execution_strategy, interpolation=a.interpolation,
                          atol_latent=a.atol, wrist_camera=a.wrist_camera)
        rr = Rerunner(cfg)
        rec = load_recorded(a.bag, rr.robot, rr.topics)
        res = rr.run(rec)
    except (BagError, ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if res.read_error:
        print(f"warning: bag damaged, re-ran the readable prefix: {res.read_error}", file=sys.stderr)
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"re-ran {len(res.latents)} latents, {len(res.chunks)} chunks; "
          f"{len(res.skipped)} skipped")
    if res.own_state_chunks:
        print(f"  {res.own_state_chunks} chunks on the state they carry (the bag lacks their "
              "joint state: recorder lost it)")
    if res.context_chunks:
        print(f"  {len(res.context_chunks)} chunks after a gap in the bag's chunk sequence "
              f"(first {res.context_chunks[0]}) committed as recorded: context, not compared")
    for s in res.skipped[:10]:
        print(f"  skipped: {s}")
    for d in res.divergences:
        print(d.text())
    if not res.divergences:
        print("the bag holds no recorded latents/chunks to compare with")
    if a.out:
        print(f"report: {write_report(res.divergences, a.out, {'bag': a.bag, **rr.model_ids, 'warnings': res.warnings})}")
    if a.write_bag:
        print(f"wrote {write_rerun_bag(a.bag, a.write_bag, res, rr.robot, rr.topics, rr.model_ids)}")
    return 1 if res.diverged else 0


def bag2dataset_main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Append recorded bags as episodes to a dataset.")
    ap.add_argument("bags", nargs="+")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--robot", default="franka")
    ap.add_argument("--mode", default="sim")
    ap.add_argument("--action-source", default="auto")
    ap.add_argument("--instruction", default="")
    ap.add_argument("--success", choices=["true", "false"], default=None)
    ap.add_argument("--allow-partial", action="store_true")
    a = ap.parse_args(argv)
    from vla_common.dataset import DatasetError  # noqa: PLC0415
    from vla_tools.bags.convert import ConvertConfig, bag_to_episode  # noqa: PLC0415
    try:
        robot, topics = load_robot_config(a.robot, a.mode), load_topics()
        cfg = ConvertConfig(action_source=a.action_source, instruction=a.instruction,
                            success=None if a.success is None else a.success == "true",
                            allow_partial=a.allow_partial)
        for b in a.bags:
            print(json.dumps({"bag": b, **bag_to_episode(b, a.dataset, robot, topics, cfg)}))
    except (BagError, ConfigError, DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
