"""Instruction templates: several phrasings per task, held-out list disjoint from training."""
import numpy as np
import pytest

from vla_sim.instructions import HELDOUT_TEMPLATES, TRAIN_TEMPLATES, sample_instruction

PARAMS = {"color": "red", "plate_color": "blue", "direction": "left", "from_arm": "left",
          "to_arm": "right"}


@pytest.mark.parametrize("task", sorted(TRAIN_TEMPLATES))
def test_every_task_has_several_phrasings_and_heldout_ones_never_overlap(task):
    train = {t.format(**PARAMS) for t in TRAIN_TEMPLATES[task]}
    held = {t.format(**PARAMS) for t in HELDOUT_TEMPLATES[task]}
    assert len(train) >= 3 and len(held) >= 1
    assert not train & held


def test_sampling_is_seeded_and_uses_the_split():
    a = sample_instruction("pick_cube", PARAMS, np.random.default_rng(3))
    b = sample_instruction("pick_cube", PARAMS, np.random.default_rng(3))
    assert a == b and "red" in a
    h = sample_instruction("pick_cube", PARAMS, np.random.default_rng(3), split="heldout")
    assert h in {t.format(**PARAMS) for t in HELDOUT_TEMPLATES["pick_cube"]}


def test_unknown_split_is_rejected():
    with pytest.raises(KeyError):
        sample_instruction("pick_cube", PARAMS, np.random.default_rng(0), split="test")
