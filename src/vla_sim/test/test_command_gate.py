"""CommandGate: validation and stale detection (plain objects)."""
import math

import numpy as np
import pytest

from vla_sim.command_gate import CommandError, CommandGate, GateSpec

SPEC = GateSpec("/arm/commands", "position", ("a", "b", "c"))


@pytest.mark.parametrize("values,match", [
    ([1.0, 2.0], "expected 3"),
    ([], "expected 3"),
    ([1.0, 2.0, 3.0, 4.0], "expected 3"),
    ([1.0, math.nan, 0.0], "non-finite"),
    ([math.inf, 0.0, 0.0], "non-finite"),
    ([0.0, -math.inf, 0.0], "non-finite"),
    (["x", 0.0, 0.0], "not a numeric"),
])
def test_bad_command_is_rejected_and_previous_kept(values, match):
    g = CommandGate(SPEC, 0.1)
    g.submit([0.1, 0.2, 0.3], now_s=1.0)
    with pytest.raises(CommandError, match=match):
        g.submit(values, now_s=1.01)
    np.testing.assert_array_equal(g.values, [0.1, 0.2, 0.3])
    assert g.stamp_s == 1.0 and g.rejected == 1


def test_no_command_yet_is_stale():
    assert CommandGate(SPEC, 0.1).is_stale(0.0)


@pytest.mark.parametrize("age_s,stale", [(0.0, False), (0.1, False), (0.1 + 1e-6, True), (5.0, True)])
def test_command_goes_stale_after_timeout(age_s, stale):
    g = CommandGate(SPEC, 0.1)
    g.submit([0, 0, 0], now_s=2.0)
    assert g.is_stale(2.0 + age_s) is stale


def test_clear_makes_gate_stale():
    g = CommandGate(SPEC, 0.1)
    g.submit([0, 0, 0], now_s=0.0)
    g.clear()
    assert g.is_stale(0.0) and g.values is None


@pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan, math.inf])
def test_bad_timeout_is_rejected(timeout):
    with pytest.raises(ValueError):
        CommandGate(SPEC, timeout)


def test_unknown_interface_is_rejected():
    with pytest.raises(ValueError, match="interface"):
        CommandGate(GateSpec("/x", "velocity", ("a",)), 0.1)
