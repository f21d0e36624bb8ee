"""Source side read off prepositions: named sources, destinations, fillers, contradictions."""
import pytest

from vla_planner.instruction_sides import source_side


@pytest.mark.parametrize("text, side", [
    ("transfer the cube from the left arm to the right arm", "left"),
    ("pick up the cube with the right arm and hand it to the left arm", "right"),
    ("hand the blue cube over from left to right", "left"),
    ("the left arm should take the cube from the right arm", "right"),   # destination named first
    ("give the cube in the left gripper to the right gripper", "left"),
    ("Pass it TO THE ROBOT'S RIGHT hand.", "left"),                    # case, two fillers
    ("move the cube towards the left", "right"),
])
def test_cued_side_words_name_the_source(text, side):
    assert source_side(text) == side


@pytest.mark.parametrize("text", [
    "", "pick up the red cube", "pass the cube to the other hand",
    "use the left arm to grab the cube, then let the right arm hold it",  # no cue before a side
    "put it in the right gripper",                                     # "in" is not a cue
    "from the left to the left",                                       # cues contradict
    "to the very big left arm",                                        # too far from its cue
    "that's right, lift it",
])
def test_uncued_or_contradicting_sides_give_none(text):
    assert source_side(text) is None
