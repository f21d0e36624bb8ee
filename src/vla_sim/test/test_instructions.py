"""Instruction templates: several phrasings per task, held-out list disjoint from training."""
import numpy as np
import pytest

from vla_sim.instructions import AUGMENT_TEMPLATES, HELDOUT_TEMPLATES, TRAIN_TEMPLATES, \
    sample_instruction, templates

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


@pytest.mark.parametrize("task", sorted(AUGMENT_TEMPLATES))
def test_augmentation_phrasings_extend_train_and_never_touch_heldout(task):
    aug = templates(task, "augment")
    assert aug[:len(TRAIN_TEMPLATES[task])] == TRAIN_TEMPLATES[task]
    extra = {t.format(**PARAMS) for t in AUGMENT_TEMPLATES[task]}
    assert len(extra) == len(AUGMENT_TEMPLATES[task])
    assert not extra & {t.format(**PARAMS) for t in TRAIN_TEMPLATES[task]}
    assert not extra & {t.format(**PARAMS) for t in HELDOUT_TEMPLATES[task]}


def test_task_without_extra_phrasings_augments_with_its_train_templates():
    assert templates("pick_cube", "augment") == TRAIN_TEMPLATES["pick_cube"]


def test_augmentation_split_is_never_sampled_by_the_sim():
    with pytest.raises(KeyError, match="augment"):
        sample_instruction("transfer_cube", PARAMS, np.random.default_rng(0), split="augment")
