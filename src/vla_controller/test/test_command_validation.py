"""Validation of incoming targets: every rejection counted, values reordered by name."""
import numpy as np
import pytest

from vla_controller.command_validation import TargetRejected, TargetValidator

NAMES = ("a", "b", "c")


def test_reorders_by_name():
    v = TargetValidator(NAMES)
    np.testing.assert_array_equal(v.validate(["c", "a", "b"], [3.0, 1.0, 2.0]), [1.0, 2.0, 3.0])
    assert v.accepted == 1


@pytest.mark.parametrize("names,values,reason", [
    (["a", "b", "c"], [1.0, np.nan, 2.0], "non_finite"),
    (["a", "b", "c"], [1.0, np.inf, 2.0], "non_finite"),
    (["a", "b", "c"], [1.0, 2.0], "length_mismatch"),
    (["a", "b"], [1.0, 2.0], "missing_name"),
    ([], [], "missing_name"),
    (["a", "b", "x"], [1.0, 2.0, 3.0], "unknown_name"),
    (["a", "b", "c", "d"], [1.0, 2.0, 3.0, 4.0], "unknown_name"),
    (["a", "a", "b"], [1.0, 1.0, 2.0], "duplicate_name"),
    (["a", "b", "c"], ["x", 1.0, 2.0], "non_finite"),
])
def test_bad_targets_rejected_and_counted(names, values, reason):
    v = TargetValidator(NAMES)
    with pytest.raises(TargetRejected) as e:
        v.validate(names, values)
    assert e.value.reason == reason
    c = v.counts()
    assert c[f"rejected_{reason}"] == 1 and c["rejected_total"] == 1 and c["accepted"] == 0


def test_empty_expected_raises():
    with pytest.raises(ValueError):
        TargetValidator(())
