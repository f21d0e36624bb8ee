"""Which side an instruction moves something away from, read off its prepositions (ROS-free).

The frozen sentence encoder hardly sees word order: "the right arm should take the cube from the
left arm" is as close to "transfer the cube from the left arm to the right arm" as to its mirror
image (docs/TRAINING.md, Dec 6). Prepositions carry exactly that role, and reading them is
deterministic: "from the left ..." names the source; "to / into / towards the right ..." names
the destination, whose opposite is the source when there are two sides. The matcher uses this to
keep only trained instructions with the same source side (instruction_match.py).

Deliberately conservative: a side word counts only right after a cue (with at most two filler
words between, as in "to the robot's right"); "in", "with" and "using" are not cues ("put it in
the right gripper" names a destination, "pick it up with the left arm" a source). Cues that
disagree, or none, give None and the matcher falls back on the embedding alone.
"""
from __future__ import annotations

import re

_OPPOSITE = {"left": "right", "right": "left"}
_SOURCE_CUES = frozenset({"from"})
_DESTINATION_CUES = frozenset({"to", "into", "onto", "toward", "towards"})
_FILLERS = frozenset({"the", "its", "your", "their", "robot's", "robots"})
_MAX_FILLERS = 2
_WORD = re.compile(r"[a-z']+")


def source_side(text: str) -> str | None:
    """The side ``text`` moves something away from.

    Args:
        text: an instruction, any case and punctuation.
    Returns:
        "left" or "right" when every cued side word agrees on it ("from the left arm",
        "hand it to the right arm", "from left to right"); None when no side word follows a cue
        or the cues contradict each other ("from the left to the left").
    """
    words = _WORD.findall(text.lower())
    found: set[str] = set()
    for i, w in enumerate(words):
        if w not in _OPPOSITE:
            continue
        j = i - 1
        while j >= 0 and i - 1 - j < _MAX_FILLERS and words[j] in _FILLERS:
            j -= 1
        if j < 0:
            continue
        if words[j] in _SOURCE_CUES:
            found.add(w)
        elif words[j] in _DESTINATION_CUES:
            found.add(_OPPOSITE[w])
    return found.pop() if len(found) == 1 else None
