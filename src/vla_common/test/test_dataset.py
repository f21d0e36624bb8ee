"""vla_common.dataset: round trip, append, and rejection of bad input."""
import json

import numpy as np
import pytest

from vla_common.dataset import (DatasetError, DatasetInfo, DatasetReader, DatasetWriter,
                                check_names, decode_png, encode_png)

NAMES = ("j1", "j2", "gripper")


def _info(**kw):
    base = dict(robot="franka", fps=50.0, state_names=NAMES, action_names=NAMES,
                cameras=("scene", "wrist"), image_every_k=5)
    base.update(kw)
    return DatasetInfo(**base)


def _write_episode(w, rng, n=12, success=True, instruction="pick up the red cube"):
    w.start_episode(instruction, task="pick_cube", seed=7)
    frames = []
    for k in range(n):
        s = rng.normal(size=3)
        a = rng.normal(size=3)
        imgs = None
        if k % 5 == 0:
            imgs = {c: rng.integers(0, 255, size=(8, 6, 3), dtype=np.uint8) for c in ("scene", "wrist")}
        w.add_frame(s, a, k * 0.02, imgs)
        frames.append((s, a, imgs))
    w.end_episode(success)
    return frames


def test_round_trip_preserves_state_action_images_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "ds", _info()) as w:
        frames = _write_episode(w, rng)
        _write_episode(w, rng, n=7, success=False, instruction="push the blue cube to the left")
    r = DatasetReader(tmp_path / "ds")
    assert r.num_episodes == 2
    assert r.info.total_frames == 19
    ep = r.episode(0)
    assert ep.instruction == "pick up the red cube" and ep.success and ep.seed == 7 and ep.task == "pick_cube"
    np.testing.assert_allclose(ep.state, np.array([f[0] for f in frames], np.float32))
    np.testing.assert_allclose(ep.action, np.array([f[1] for f in frames], np.float32))
    np.testing.assert_allclose(ep.timestamp, np.arange(12) * 0.02, atol=1e-6)
    idx, imgs = ep.images["scene"]
    assert idx.tolist() == [0, 5, 10]
    np.testing.assert_array_equal(imgs[1], frames[5][2]["scene"])
    assert not r.episode(1).success
    assert [e[2] for e in r.arrays(successful_only=True)] == ["pick up the red cube"]
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    assert info["features"]["action"]["names"] == list(NAMES)
    assert info["image_fps"] == 10.0
    assert info["image_shapes"]["scene"] == [8, 6, 3]


def test_append_adds_episodes_and_mismatch_is_rejected(tmp_path):
    rng = np.random.default_rng(1)
    with DatasetWriter(tmp_path / "ds", _info()) as w:
        _write_episode(w, rng)
    with pytest.raises(DatasetError, match="already holds"):
        DatasetWriter(tmp_path / "ds", _info())
    with pytest.raises(DatasetError, match="fps"):
        DatasetWriter(tmp_path / "ds", _info(fps=25.0), append=True)
    with DatasetWriter(tmp_path / "ds", _info(), append=True) as w:
        _write_episode(w, rng)
    r = DatasetReader(tmp_path / "ds")
    assert r.num_episodes == 2 and r.episode(1).index == 1
    assert r.info.total_frames == 24
    assert len(r.tasks) == 1  # same instruction -> one task entry


@pytest.mark.parametrize("state,action,ts,err", [
    ([0.0, np.nan, 0.0], [0, 0, 0], 0.0, "finite"),
    ([0.0, 0.0, 0.0], [0, np.inf, 0], 0.0, "finite"),
    ([0.0, 0.0], [0, 0, 0], 0.0, "state has 2"),
    ([0.0, 0.0, 0.0], [], 0.0, "action has 0"),
    ([0.0, 0.0, 0.0], [0, 0, 0], float("nan"), "finite"),
])
def test_bad_frame_is_rejected_with_clear_error(tmp_path, state, action, ts, err):
    w = DatasetWriter(tmp_path / "ds", _info(cameras=()))
    w.start_episode("x")
    with pytest.raises(DatasetError, match=err):
        w.add_frame(state, action, ts)


def test_missing_or_malformed_images_are_rejected(tmp_path):
    w = DatasetWriter(tmp_path / "ds", _info())
    w.start_episode("x")
    with pytest.raises(DatasetError, match="needs images"):
        w.add_frame([0, 0, 0], [0, 0, 0], 0.0, {"scene": np.zeros((4, 4, 3), np.uint8)})
    with pytest.raises(DatasetError, match="uint8"):
        w.add_frame([0, 0, 0], [0, 0, 0], 0.0, {"scene": np.zeros((4, 4, 3)), "wrist": np.zeros((4, 4, 3))})
    w.add_frame([0, 0, 0], [0, 0, 0], 0.0, {c: np.zeros((4, 4, 3), np.uint8) for c in ("scene", "wrist")})
    with pytest.raises(DatasetError, match="not an image frame"):
        w.add_frame([0, 0, 0], [0, 0, 0], 0.02, {c: np.zeros((4, 4, 3), np.uint8) for c in ("scene", "wrist")})
    with pytest.raises(DatasetError, match="not after"):
        w.add_frame([0, 0, 0], [0, 0, 0], 0.0)


def test_empty_episode_and_empty_instruction_are_rejected(tmp_path):
    w = DatasetWriter(tmp_path / "ds", _info(cameras=()))
    with pytest.raises(DatasetError, match="instruction"):
        w.start_episode("  ")
    w.start_episode("x")
    with pytest.raises(DatasetError, match="at least one frame"):
        w.end_episode(True)


def test_reader_on_missing_dataset_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match="not a dataset"):
        DatasetReader(tmp_path / "nope")


def test_check_names_rejects_other_robot():
    with pytest.raises(DatasetError, match="do not match"):
        check_names(_info(), ("a", "b", "c"))
    check_names(_info(), NAMES)


def test_png_round_trip_is_lossless():
    img = np.random.default_rng(2).integers(0, 255, size=(5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(img)), img)
