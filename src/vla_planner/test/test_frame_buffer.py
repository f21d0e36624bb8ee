import math

import numpy as np
import pytest

from vla_planner.frame_buffer import FrameBuffer

IM = np.zeros((8, 8, 3), np.uint8)


def _buf(**kw):
    args = dict(cameras=("scene", "wrist"), stamp_tolerance_s=0.02, max_age_s=0.5)
    args.update(kw)
    return FrameBuffer(**args)


def test_no_image_from_one_camera_skips_with_reason():
    b = _buf()
    b.add("scene", 1.0, IM)
    fs, reason = b.newest_set(1.0)
    assert fs is None and "wrist" in reason


def test_newest_matched_set_is_returned_with_newest_stamp():
    b = _buf()
    for t in (1.0, 1.1, 1.2):
        b.add("scene", t, IM)
        b.add("wrist", t + 0.01, IM)
    fs, _ = b.newest_set(1.25)
    assert fs is not None and fs.stamp_s == pytest.approx(1.21)
    assert fs.stamps_s["scene"] == pytest.approx(1.2)


def test_late_camera_is_matched_with_older_frame_of_other_camera():
    b = _buf()
    for t in (1.0, 1.1, 1.2):
        b.add("scene", t, IM)
    b.add("wrist", 1.1, IM)  # wrist has not delivered 1.2 yet
    fs, _ = b.newest_set(1.2)
    assert fs is not None and fs.stamp_s == pytest.approx(1.1)


def test_stamps_beyond_tolerance_are_not_matched():
    b = _buf()
    b.add("scene", 1.0, IM)
    b.add("wrist", 1.05, IM)
    fs, reason = b.newest_set(1.06)
    assert fs is None and "tolerance" in reason


def test_stale_images_are_skipped():
    b = _buf()
    b.add("scene", 1.0, IM)
    b.add("wrist", 1.0, IM)
    fs, reason = b.newest_set(2.0)
    assert fs is None and "stale" in reason


def test_clock_jump_back_clears_buffer():
    b = _buf()
    b.add("scene", 10.0, IM)
    b.add("wrist", 10.0, IM)
    fs, reason = b.newest_set(0.1)
    assert fs is None and "clock went back" in reason
    assert b.newest_set(10.0)[0] is None  # cleared


def test_out_of_order_frame_is_dropped_and_history_is_bounded():
    b = _buf(history=2)
    for t in (1.0, 1.1, 1.2, 1.15):
        b.add("scene", t, IM)
        b.add("wrist", t, IM)
    fs, _ = b.newest_set(1.2)
    assert fs.stamp_s == pytest.approx(1.2)
    assert len(b._frames["scene"]) == 2


@pytest.mark.parametrize("stamp", [math.nan, math.inf, -1.0])
def test_bad_stamp_raises(stamp):
    with pytest.raises(ValueError):
        _buf().add("scene", stamp, IM)


def test_unknown_camera_raises():
    with pytest.raises(KeyError):
        _buf().add("top", 1.0, IM)


@pytest.mark.parametrize("kw", [dict(cameras=()), dict(cameras=("a", "a")),
                                dict(stamp_tolerance_s=math.nan), dict(max_age_s=-1.0),
                                dict(history=0)])
def test_bad_buffer_config_raises(kw):
    with pytest.raises(ValueError):
        _buf(**kw)
