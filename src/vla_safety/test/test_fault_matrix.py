"""The full fault-injection matrix at core level (same Supervisor code the node runs)."""
import pytest

from vla_safety import fault_matrix as fm


def test_matrix_has_at_least_25_cases():
    assert len(fm.CASES) >= 25


@pytest.mark.parametrize("name", list(fm.CASES))
def test_fault_case_limits_held_response_bounded_and_reset_needed(name):
    r = fm.run_case(name)
    assert r.within_limits, r.limit_detail
    if r.bound_periods is not None:
        assert r.detect_periods is not None and r.detect_periods <= r.bound_periods, r
    if r.reset_needed is not None:
        assert r.reset_needed and r.recovered, r
    assert r.ok, r
