"""Language instructions per task: training phrasings and a separate HELD-OUT list (ROS-free).

Held-out phrasings are never used to generate training data (``record_demos`` samples the
"train" split); evaluation can ask for the "heldout" split to test unseen paraphrases.
The first training template of each task is its canonical phrasing.
"""
from __future__ import annotations

import numpy as np

TRAIN_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pick_cube": (
        "pick up the {color} cube",
        "grab the {color} cube",
        "lift the {color} cube",
        "pick the {color} block up",
        "take the {color} cube off the table",
    ),
    "place_cube_on_plate": (
        "put the {color} cube on the {plate_color} plate",
        "place the {color} cube onto the {plate_color} plate",
        "move the {color} block onto the {plate_color} plate",
        "set the {color} cube down on the {plate_color} plate",
    ),
    "push_cube": (
        "push the {color} cube to the {direction}",
        "slide the {color} cube to the {direction}",
        "shove the {color} block towards the {direction}",
        "move the {color} cube to the {direction} by pushing it",
    ),
    "transfer_cube": (
        "transfer the cube from the {from_arm} arm to the {to_arm} arm",
        "pick up the cube with the {from_arm} arm and hand it to the {to_arm} arm",
        "hand the {color} cube over from {from_arm} to {to_arm}",
    ),
    "insertion": (
        "insert the peg into the socket",
        "pick up the peg and the socket and put the peg in",
        "put the red peg into the blue socket",
    ),
}

HELDOUT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pick_cube": (
        "raise the {color} block off the table",
        "could you lift up the {color} cube",
    ),
    "place_cube_on_plate": (
        "drop the {color} block on top of the {plate_color} dish",
        "the {color} cube belongs on the {plate_color} plate",
    ),
    "push_cube": (
        "nudge the {color} block over to the {direction} side",
        "without lifting it, move the {color} cube {direction}",
    ),
    "transfer_cube": (
        "pass the cube to the other hand",
    ),
    "insertion": (
        "fit the peg into the hole of the socket",
    ),
}


def templates(task: str, split: str = "train") -> tuple[str, ...]:
    """Templates of ``task`` for ``split`` ("train" or "heldout").

    Raises:
        KeyError: unknown task or split.
    """
    table = {"train": TRAIN_TEMPLATES, "heldout": HELDOUT_TEMPLATES}[split]
    return table[task]


def sample_instruction(task: str, params: dict, rng: np.random.Generator, split: str = "train") -> str:
    """Fill a randomly chosen template of ``task``/``split`` with ``params`` (e.g. color)."""
    options = templates(task, split)
    return options[int(rng.integers(len(options)))].format(**params)


def canonical_instruction(task: str, params: dict) -> str:
    return TRAIN_TEMPLATES[task][0].format(**params)
