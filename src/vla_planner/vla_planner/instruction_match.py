"""Map an instruction to the nearest one the planner was trained on (ROS-free, numpy only).

A small planner trained on a few phrasings per task reads an unseen phrasing as a text feature far
outside anything it saw (ALOHA v5: norm 74 against 5; docs/TRAINING.md, Dec 6) and acts on
garbage. With ``match: nearest`` in a checkpoint's ``instructions.json`` the frozen sentence
encoder's similarity picks the trained instruction an unseen phrasing means, and one that is
close to none of them is refused instead of executed.

The sentence encoder is weak on word order: "the left arm should take the cube from the right
arm" is as similar to "...from the left arm to the right arm" as to its mirror image (the two
differ by 0.002-0.005 in cosine similarity, where different cube colours differ by 0.09-0.15). So
an instruction whose two closest trained instructions of *different meaning* (``groups``) are
within ``min_margin`` of each other is refused as ambiguous rather than guessed. With
``side_roles`` (the default) an instruction that names its source side with a preposition
("from the left arm", "to the right gripper"; instruction_sides.py) is compared only with trained
instructions of the same source side (or none), so word order no longer has to come from the
encoder; one that names no side is matched as before.

File format (``<planner checkpoint>/instructions.json``)::

    {"match": "nearest" | "exact", "min_similarity": 0.5, "min_margin": 0.03,
     "side_roles": true, "instructions": ["...", ...], "groups": [0, 0, 1, ...]}

``groups`` (optional) gives each instruction its meaning class: phrasings of the same task with
the same parameters share one; without it every instruction is its own.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vla_planner.instruction_sides import source_side

INSTRUCTIONS_FILE = "instructions.json"
MATCH_MODES = ("exact", "nearest")


@dataclass(frozen=True)
class InstructionSet:
    """The instructions a checkpoint was trained on and how to use them."""
    instructions: tuple[str, ...]
    match: str = "nearest"
    min_similarity: float = 0.5
    groups: tuple[int, ...] = ()   # meaning class per instruction; empty: each its own
    min_margin: float = 0.03       # best match vs best of another meaning, else ambiguous
    side_roles: bool = True        # a named source side must agree (instruction_sides.py)

    def __post_init__(self):
        if self.match not in MATCH_MODES:
            raise ValueError(f"match must be one of {MATCH_MODES}, got {self.match!r}")
        if not (math.isfinite(self.min_similarity) and -1.0 <= self.min_similarity <= 1.0):
            raise ValueError(f"min_similarity must be in [-1, 1], got {self.min_similarity}")
        if not (math.isfinite(self.min_margin) and 0.0 <= self.min_margin <= 2.0):
            raise ValueError(f"min_margin must be in [0, 2], got {self.min_margin}")
        if not isinstance(self.side_roles, bool):
            raise ValueError(f"side_roles must be true or false, got {self.side_roles!r}")
        if not self.instructions or not all(isinstance(s, str) and s.strip() for s in self.instructions):
            raise ValueError("instructions must be a non-empty list of non-empty strings")
        if self.groups and len(self.groups) != len(self.instructions):
            raise ValueError(f"groups has {len(self.groups)} entries for "
                             f"{len(self.instructions)} instructions")

    def group_of(self, i: int) -> int:
        return self.groups[i] if self.groups else i

    def to_json(self) -> dict:
        return {"match": self.match, "min_similarity": self.min_similarity,
                "min_margin": self.min_margin, "side_roles": self.side_roles,
                "instructions": list(self.instructions),
                "groups": list(self.groups)}


def group_by_shared_phrasings(variant_lists: Sequence[Sequence[str]]
                              ) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Instructions and their meaning classes from lists of interchangeable phrasings.

    Each list holds phrasings of one meaning (a training episode's instruction and its task's
    other phrasings with the same parameters); lists that share a string mean the same (e.g. a
    colourless phrasing joins every colour's list of one direction).

    Returns:
        (sorted unique instructions, class id of each, numbered in order of first instruction).
    """
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for lst in variant_lists:
        for s in lst:
            parent.setdefault(s, s)
        for s in lst[1:]:
            parent[root(s)] = root(lst[0])
    texts = tuple(sorted(parent))
    ids: dict[str, int] = {}
    return texts, tuple(ids.setdefault(root(s), len(ids)) for s in texts)


def read_instruction_set(ckpt_dir: str | os.PathLike) -> InstructionSet | None:
    """The checkpoint's ``instructions.json``, or None when it has none.

    Raises:
        ValueError: the file is not valid JSON or has bad fields (named in the message).
    """
    path = Path(ckpt_dir) / INSTRUCTIONS_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        return InstructionSet(tuple(raw["instructions"]), str(raw.get("match", "nearest")),
                              float(raw.get("min_similarity", 0.5)),
                              tuple(int(g) for g in raw.get("groups", ())),
                              float(raw.get("min_margin", 0.03)),
                              raw.get("side_roles", True))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def write_instruction_set(ckpt_dir: str | os.PathLike, iset: InstructionSet) -> Path:
    path = Path(ckpt_dir) / INSTRUCTIONS_FILE
    path.write_text(json.dumps(iset.to_json(), indent=2) + "\n")
    return path


@dataclass(frozen=True)
class Interpretation:
    text: str            # what was asked
    matched: str         # what the model is given
    similarity: float    # cosine similarity of the two in the sentence encoder (1.0: exact)


class InstructionMatcher:
    """Nearest trained instruction by cosine similarity of sentence embeddings.

    Args:
        iset: the trained instructions, mode and similarity floor.
        embed: texts -> [n, d] embeddings (the planner's frozen text encoder).
    Raises:
        ValueError: ``embed`` returned a wrong shape or non-finite values.
    """

    def __init__(self, iset: InstructionSet, embed: Callable[[Sequence[str]], np.ndarray]):
        self.iset = iset
        self._embed = embed
        self._known = _unit_rows(np.asarray(embed(list(iset.instructions)), np.float64),
                                 len(iset.instructions))
        self._sides = tuple(source_side(s) if iset.side_roles else None for s in iset.instructions)
        self._cache: dict[str, Interpretation] = {}

    def interpret(self, text: str) -> Interpretation:
        """The trained instruction ``text`` is given to the model as.

        Raises:
            ValueError: ``match`` is "exact" and ``text`` is not a trained instruction, or it is
                "nearest" and no trained instruction reaches ``min_similarity``.
        """
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        if text in self.iset.instructions:
            out = Interpretation(text, text, 1.0)
        else:
            e = _unit_rows(np.asarray(self._embed([text]), np.float64), 1)[0]
            sims = self._known @ e
            order = np.argsort(-sims, kind="stable")
            if self.iset.match == "exact":
                best, sim = self.iset.instructions[int(order[0])], float(sims[order[0]])
                raise ValueError(f"not a trained instruction (closest: {best!r}, similarity "
                                 f"{sim:.2f}); this checkpoint accepts only its trained phrasings")
            side = source_side(text) if any(self._sides) else None
            if side is not None:  # the text says which way: only instructions that agree
                order = np.array([k for k in order if self._sides[k] in (side, None)], dtype=int)
                if order.size == 0:
                    raise ValueError(f"names the {side} side as the source, which no trained "
                                     "instruction does")
            i = int(order[0])
            best, sim = self.iset.instructions[i], float(sims[i])
            if sim < self.iset.min_similarity:
                raise ValueError(f"not close to any trained instruction (closest: {best!r}, "
                                 f"similarity {sim:.2f} < {self.iset.min_similarity:.2f})")
            g = self.iset.group_of(i)
            j = next((int(k) for k in order[1:] if self.iset.group_of(int(k)) != g), None)
            if j is not None and sim - float(sims[j]) < self.iset.min_margin:
                raise ValueError(f"ambiguous: as close to {best!r} ({sim:.3f}) as to "
                                 f"{self.iset.instructions[j]!r} ({float(sims[j]):.3f}), which "
                                 f"mean different things; please rephrase")
            out = Interpretation(text, best, sim)
        if len(self._cache) < 1024:
            self._cache[text] = out
        return out


def _unit_rows(x: np.ndarray, n: int) -> np.ndarray:
    if x.ndim != 2 or x.shape[0] != n or not np.all(np.isfinite(x)):
        raise ValueError(f"embeddings must be finite [{n}, d], got shape {x.shape}")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("an embedding is all zeros")
    return x / norm
