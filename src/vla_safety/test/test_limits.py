"""Pure numeric checks of vla_safety.limits: edge cases and the limiter's guarantees."""
import numpy as np
import pytest

from vla_safety.limits import (DofLimits, all_finite, brake_step, limit_effort, limit_step,
                               position_excess, ratio_over, stop_time_bound_s)

EPS = np.finfo(float).eps


def lim2():
    return DofLimits(("a", "b"), np.array([-1.0, -2.0]), np.array([1.0, 2.0]), np.array([2.0, 1.0]),
                     np.array([10.0, 5.0]), np.array([5000.0, 2500.0]), np.array([50.0, 10.0]),
                     np.array([1000.0, 1000.0]))


@pytest.mark.parametrize("x,expected", [([], True), ([0.0, 1.0], True), ([np.nan], False),
                                        ([np.inf], False), ([-np.inf, 0.0], False), ([EPS], True)])
def test_all_finite_detects_nan_and_inf(x, expected):
    assert all_finite(np.array(x)) is expected


@pytest.mark.parametrize("q,margin,expected", [
    ([0.0, 0.0], 0.0, [0.0, 0.0]), ([1.5, 0.0], 0.0, [0.5, 0.0]), ([0.95, 0.0], 0.1, [0.05, 0.0]),
    ([-1.0 - EPS, 0.0], 0.0, [EPS, 0.0])])
def test_position_excess_measures_distance_outside_band(q, margin, expected):
    L = lim2()
    np.testing.assert_allclose(position_excess(np.array(q), L.pos_min, L.pos_max, margin), expected,
                               atol=1e-15)


def test_position_excess_nan_propagates_and_bad_margin_raises():
    L = lim2()
    assert np.isnan(position_excess(np.array([np.nan, 0.0]), L.pos_min, L.pos_max)[0])
    with pytest.raises(ValueError):
        position_excess(np.zeros(2), L.pos_min, L.pos_max, -0.1)
    with pytest.raises(ValueError):
        position_excess(np.zeros(2), L.pos_min, L.pos_max, 1.5)


@pytest.mark.parametrize("v,expected", [([], 0.0), ([1.0, 0.5], 0.5), ([-4.0, 0.0], 2.0),
                                        ([np.nan, 0.0], np.inf), ([0.0, np.inf], np.inf)])
def test_ratio_over_is_max_abs_ratio_and_inf_for_non_finite(v, expected):
    lim = np.array([2.0, 1.0])[:len(v)] if v else np.array([])
    assert ratio_over(np.array(v), lim) == expected


def test_doflimits_rejects_nan_wrong_shape_and_nonpositive():
    L = lim2()
    with pytest.raises(ValueError):
        DofLimits(("a",), L.pos_min, L.pos_max, L.vel_max, L.acc_max, L.jerk_max, L.effort_max,
                  L.effort_rate_max)
    with pytest.raises(ValueError):
        DofLimits(L.names, L.pos_min, L.pos_max, np.array([0.0, 1.0]), L.acc_max, L.jerk_max,
                  L.effort_max, L.effort_rate_max)
    with pytest.raises(ValueError):
        DofLimits(L.names, L.pos_min, L.pos_max, np.array([np.nan, 1.0]), L.acc_max, L.jerk_max,
                  L.effort_max, L.effort_rate_max)


@pytest.mark.parametrize("period", [0.0, -0.001, np.nan, np.inf])
def test_limit_step_rejects_bad_period(period):
    with pytest.raises(ValueError):
        limit_step(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), lim2(), period)


@pytest.mark.parametrize("scale", [-0.1, 1.1, np.nan])
def test_limit_step_rejects_bad_scale(scale):
    with pytest.raises(ValueError):
        limit_step(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), lim2(), 0.01, scale)


def test_limit_step_random_targets_never_leave_limits():
    L, dt = lim2(), 0.002
    rng = np.random.default_rng(0)
    q, v, a = np.zeros(2), np.zeros(2), np.zeros(2)
    for i in range(3000):
        target = rng.uniform(-5, 5, 2) if i % 50 == 0 else target  # noqa: F821 - set at i == 0
        scale = 0.3 if (i // 400) % 2 else 1.0
        q1, v1, a1, frac = limit_step(target, q, v, a, L, dt, scale, 0.05)
        assert np.all(q1 >= L.pos_min) and np.all(q1 <= L.pos_max)
        assert np.all(np.abs(v1) <= L.vel_max + 1e-9)
        assert np.all(np.abs(v1 - v) <= L.acc_max * dt + 1e-9)
        assert 0.0 <= frac <= 1.0
        q, v, a = q1, v1, a1


def test_limit_step_inside_limits_is_not_clamped():
    L = lim2()
    q, v, a, frac = limit_step(np.array([0.00001, 0.0]), np.zeros(2), np.zeros(2), np.zeros(2), L, 0.002)
    assert frac == pytest.approx(1.0)
    np.testing.assert_allclose(q, [0.00001, 0.0])


def test_brake_step_stops_within_bound_and_never_reverses():
    L, dt = lim2(), 0.002
    q, v, a = np.zeros(2), np.array([2.0, -1.0]), np.zeros(2)
    n = 0
    while np.any(v) and n < 10000:
        q1, v1, a1 = brake_step(q, v, a, L, dt, 0.5)
        assert np.all(v1 * v >= 0) and np.all(np.abs(v1 - v) <= L.acc_max * dt + 1e-9)
        q, v, a, n = q1, v1, a1, n + 1
    assert n * dt <= stop_time_bound_s(L, 0.5, dt)


@pytest.mark.parametrize("frac", [0.0, -1.0, 1.5])
def test_brake_step_rejects_bad_fraction(frac):
    with pytest.raises(ValueError):
        brake_step(np.zeros(2), np.zeros(2), np.zeros(2), lim2(), 0.01, frac)


def test_limit_effort_clips_magnitude_and_rate():
    L = lim2()
    tau, r = limit_effort(np.array([100.0, -3.0]), np.array([49.5, 0.0]), L, 0.001)
    np.testing.assert_allclose(tau, [50.0, -1.0])
    assert r == pytest.approx(50.5)  # rate of joint a: (100 - 49.5) / (1000 * 0.001)


def test_limit_step_caller_band_is_reached_within_acceleration_and_jerk_limits():
    """``v_band`` (the supervisor's braking room above the table) is the lowest-priority band:
    the stream slows into it at most at acc_max and jerk_max, and other DoFs are not touched."""
    L, dt = lim2(), 0.002
    band = (np.array([-np.inf, -np.inf]), np.array([0.2, np.inf]))  # joint a: at most 0.2 rad/s
    ff = np.array([1.5, 0.5])
    runs = {}
    for name, b in (("band", band), ("free", None)):
        q, v, a = np.zeros(2), ff.copy(), np.zeros(2)
        vs = []
        for k in range(100):
            q1, v1, a1, _ = limit_step(ff * (k + 1) * dt, q, v, a, L, dt, v_ff=ff, v_band=b)
            assert np.all(np.abs(v1 - v) <= L.acc_max * dt + 1e-9)
            assert np.all(np.abs(a1 - a) <= L.jerk_max * dt + 1e-6)
            q, v, a = q1, v1, a1
            vs.append(v)
        runs[name] = np.array(vs)
    assert runs["band"][-1, 0] <= 0.2 + 1e-9 and runs["free"][-1, 0] == pytest.approx(1.5)
    np.testing.assert_array_equal(runs["band"][:, 1], runs["free"][:, 1])
