"""Write a planner checkpoint's ``instructions.json``: the instructions it was trained on.

    python -m vla_tools.instruction_set models/aloha                 # match: nearest (default)
    python -m vla_tools.instruction_set models/franka --min-similarity 0.6
    python -m vla_tools.instruction_set models/aloha --match exact   # refuse unseen phrasings

The set is rebuilt from the checkpoint's own ``planner/training.json`` (datasets, episodes per
task and per retry dataset, and whether ``--extra-phrasings`` was on) exactly as ``train_default``
builds its instruction table: each successful episode's instruction plus the training phrasings
of its task with its parameters. ``train_default`` writes the file itself for new checkpoints;
this command adds it to checkpoints trained before it existed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from vla_planner.instruction_match import MATCH_MODES, InstructionSet, group_by_shared_phrasings, \
    write_instruction_set


def training_instructions(planner_dir: Path, repo: Path) -> list[list[str]]:
    """The instruction phrasings the checkpoint in ``planner_dir`` was trained on, one list of
    interchangeable phrasings per training episode (``training_data.instruction_variants``).

    Raises:
        FileNotFoundError: no ``training.json`` or a dataset it names is missing.
        ValueError: ``training.json`` lacks the fields needed, or the datasets hold no episodes.
    """
    from vla_common.dataset import DatasetReader
    from vla_tools.training_data import instruction_variants

    meta_path = planner_dir / "training.json"
    meta = json.loads(meta_path.read_text())
    try:
        roots, n = [Path(d) for d in meta["datasets"]], int(meta["episodes_per_task"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{meta_path}: no datasets / episodes_per_task ({e})") from e
    extra = "--extra-phrasings" in str(meta.get("command", ""))
    n_retry = int(meta.get("retry_episodes_per_task", 0))
    # the trainer lists its retry datasets (<robot>_<task>_retry) among the datasets
    groups = [(r, n_retry if r.name.endswith("_retry") else n) for r in roots]
    lists: list[list[str]] = []
    for root, limit in groups:
        path = root if root.is_absolute() else repo / root
        if not path.exists():
            raise FileNotFoundError(f"dataset {path} named in {meta_path} not found")
        metas = [m for m in DatasetReader(path).episodes if m.get("success", False)][:limit]
        for m in metas:
            ep = SimpleNamespace(instruction=(m.get("tasks") or [""])[0], task=m.get("task", ""),
                                 params=dict((m.get("extra") or {}).get("params", {})))
            lists.append([s for s in instruction_variants(ep, extra) if s])
    if not any(lists):
        raise ValueError(f"no successful episodes in {[str(r) for r, _ in groups]}")
    return lists


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", help="checkpoint root holding planner/ (e.g. models/aloha)")
    p.add_argument("--match", default="nearest", choices=MATCH_MODES)
    p.add_argument("--min-similarity", type=float, default=0.5,
                   help="refuse an instruction whose closest trained one is less similar (cosine)")
    p.add_argument("--min-margin", type=float, default=0.03,
                   help="refuse as ambiguous when a trained instruction of another meaning is "
                        "within this similarity of the closest")
    p.add_argument("--no-side-roles", action="store_true",
                   help="do not use a source side the text names with a preposition ('from the "
                        "left arm') to choose among trained instructions (instruction_sides.py)")
    a = p.parse_args(argv)
    from vla_common.config import find_config_dir
    planner = Path(a.models) / "planner"
    try:
        texts, groups = group_by_shared_phrasings(training_instructions(planner, find_config_dir().parent))
        iset = InstructionSet(texts, a.match, a.min_similarity, groups, a.min_margin,
                              side_roles=not a.no_side_roles)
    except (OSError, ValueError) as e:
        print(f"instruction_set: error: {e}", file=sys.stderr)
        return 2
    path = write_instruction_set(planner, iset)
    print(f"instruction_set: wrote {path}: {len(texts)} instructions in {len(set(groups))} "
          f"meanings, match {a.match}, min similarity {a.min_similarity}, min margin {a.min_margin}, side roles {not a.no_side_roles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
