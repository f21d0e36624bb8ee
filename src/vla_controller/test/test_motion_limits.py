"""Velocity/acceleration-limited tracker."""
import numpy as np
import pytest

from vla_controller.motion_limits import feedforward_velocity, limited_step

DT = 0.002
VMAX, AMAX = np.array([2.0]), np.array([10.0])


def _run(x_d_fn, n, x0=0.0):
    x, v = np.array([x0]), np.array([0.0])
    xs, vs, prev_d = [], [], None
    for k in range(n):
        x_d = np.array([x_d_fn(k * DT)])
        ff = feedforward_velocity(x_d, prev_d, DT, VMAX)
        prev_d = x_d
        x, v2 = limited_step(x, v, x_d, ff, DT, VMAX, AMAX)
        assert abs(v2[0]) <= VMAX[0] + 1e-12 and abs(v2[0] - v[0]) <= AMAX[0] * DT + 1e-12
        v = v2
        xs.append(x[0])
        vs.append(v[0])
    return np.array(xs), np.array(vs)


def test_step_converges_exactly_with_small_overshoot():
    xs, vs = _run(lambda t: 1.0, 1500)
    assert xs[-1] == pytest.approx(1.0, abs=1e-12) and vs[-1] == pytest.approx(0.0, abs=1e-12)
    assert xs.max() - 1.0 <= AMAX[0] * DT ** 2


def test_ramp_is_tracked_without_lag_once_caught_up():
    xs, _ = _run(lambda t: 0.5 * t, 1000)
    assert abs(xs[-1] - 0.5 * 999 * DT) < 1e-9


def test_jump_gives_no_feedforward_spike():
    ff = feedforward_velocity(np.array([1.0]), np.array([0.0]), DT, VMAX)
    assert ff[0] == 0.0
    assert feedforward_velocity(np.array([1.0]), None, DT, VMAX)[0] == 0.0


@pytest.mark.parametrize("dt", [0.0, -0.001, np.nan, np.inf])
def test_bad_dt_raises(dt):
    with pytest.raises(ValueError):
        limited_step(np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1), dt, VMAX, AMAX)
