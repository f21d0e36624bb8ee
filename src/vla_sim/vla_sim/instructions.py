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

# Training-only paraphrases (``train_default --extra-phrasings``): the trainer also embeds these
# for its instruction augmentation, but the sim never samples them, so every seed keeps the
# instruction it had before they existed. Three transfer phrasings left the ALOHA planner's text
# features 15x outside their training range on unseen paraphrases (docs/TRAINING.md, Dec 6);
# these vary vocabulary and word order. None uses the held-out lists' wording.
AUGMENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "transfer_cube": (
        "move the cube from the {from_arm} hand to the {to_arm} hand",
        "the {from_arm} arm picks up the {color} cube and passes it to the {to_arm} arm",
        "hand off the {color} cube, {from_arm} to {to_arm}",
        "use the {from_arm} arm to grab the cube, then let the {to_arm} arm hold it",
        "{to_arm} arm receives the {color} cube from the {from_arm} arm",
        "shift the cube over from the {from_arm} side to the {to_arm} side",
    ),
}


def templates(task: str, split: str = "train") -> tuple[str, ...]:
    """Templates of ``task`` for ``split``: "train" (what the sim samples), "heldout", or
    "augment" (the train templates followed by the task's training-only paraphrases).

    Raises:
        KeyError: unknown task or split.
    """
    if split == "augment":
        return TRAIN_TEMPLATES[task] + AUGMENT_TEMPLATES.get(task, ())
    table = {"train": TRAIN_TEMPLATES, "heldout": HELDOUT_TEMPLATES}[split]
    return table[task]


def sample_instruction(task: str, params: dict, rng: np.random.Generator, split: str = "train") -> str:
    """Fill a randomly chosen template of ``task``/``split`` with ``params`` (e.g. color).

    Raises:
        KeyError: unknown task, or a split other than "train" / "heldout" (the augmentation
            phrasings are never sampled, so a seed's instruction does not depend on them).
    """
    if split not in ("train", "heldout"):
        raise KeyError(f"sampling split must be 'train' or 'heldout', not {split!r}")
    options = templates(task, split)
    return options[int(rng.integers(len(options)))].format(**params)


def canonical_instruction(task: str, params: dict) -> str:
    return TRAIN_TEMPLATES[task][0].format(**params)
