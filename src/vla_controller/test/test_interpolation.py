"""Target buffer interpolation, replanning and hold."""
import numpy as np
import pinocchio as pin
import pytest

from vla_controller.interpolation import TargetBuffer, slerp


def test_empty_buffer_gives_none():
    assert TargetBuffer(2).sample(0.0) is None


def test_linear_between_samples_and_hold_after_last():
    b = TargetBuffer(1)
    b.push(1.0, [0.0], now_s=0.9)
    b.push(1.1, [1.0], now_s=0.95)
    assert b.sample(0.5)[0] == 0.0
    assert b.sample(1.05)[0] == pytest.approx(0.5)
    assert b.sample(5.0)[0] == 1.0


def test_anchor_starts_motion_from_current_command():
    b = TargetBuffer(1)
    b.push(1.0, [1.0], now_s=0.0, anchor=np.array([0.0]))
    assert b.sample(0.5)[0] == pytest.approx(0.5)


def test_new_sample_supersedes_later_samples():
    b = TargetBuffer(1)
    for t, v in [(1.0, 1.0), (1.1, 2.0), (1.2, 3.0)]:
        b.push(t, [v], now_s=0.9)
    b.push(1.05, [10.0], now_s=1.0)     # replan from 1.05
    assert b.sample(1.025)[0] == pytest.approx(5.5)
    assert b.sample(1.2)[0] == 10.0


@pytest.mark.parametrize("bad", [[np.nan], [np.inf], [1.0, 2.0], []])
def test_bad_values_raise(bad):
    with pytest.raises(ValueError):
        TargetBuffer(1).push(1.0, bad, now_s=0.0)


def test_non_finite_time_raises():
    with pytest.raises(ValueError):
        TargetBuffer(1).push(np.nan, [0.0], now_s=0.0)


def test_quaternion_slice_is_slerped():
    q0 = pin.Quaternion(pin.exp3(np.zeros(3))).coeffs()
    q1 = pin.Quaternion(pin.exp3(np.array([0.0, 0.0, 1.0]))).coeffs()
    b = TargetBuffer(4, quat_slices=(slice(0, 4),))
    b.push(0.0, q0, now_s=0.0)
    b.push(1.0, q1, now_s=0.0)
    x, y, z, w = b.sample(0.5)
    R = pin.Quaternion(w, x, y, z).toRotationMatrix()
    np.testing.assert_allclose(pin.log3(R), [0.0, 0.0, 0.5], atol=1e-9)


def test_slerp_takes_shortest_arc():
    q = np.array([0.0, 0.0, 0.0, 1.0])
    out = slerp(q, -q, 0.5)
    assert np.allclose(np.abs(out), q)


def test_buffer_length_is_bounded():
    b = TargetBuffer(1, max_len=4)
    for k in range(100):
        b.push(float(k), [float(k)], now_s=0.0)
    assert len(b) <= 4


def test_rate_is_the_active_segments_slope_and_zero_outside():
    b = TargetBuffer(1)
    assert b.rate(0.0)[0] == 0.0                       # empty
    b.push(1.0, np.array([0.0]), 0.0)
    b.push(1.5, np.array([2.0]), 0.0)
    assert b.rate(0.5)[0] == 0.0                       # before the first sample
    assert b.rate(1.2)[0] == pytest.approx(4.0)
    assert b.rate(2.0)[0] == 0.0                       # after the last: hold
