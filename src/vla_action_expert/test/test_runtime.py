"""Run-time logic of the node without ROS: holding, staleness, input rejection, no NaN."""
import numpy as np
import pytest

from vla_action_expert.executor import ExecutorConfig
from vla_action_expert.runtime import (HOLDING, NO_INPUT, NO_LATENT_HOLD, STREAMING,
                                       ActionExpertRuntime, RuntimeConfig)

NAMES = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("gripper",)


@pytest.fixture
def rt(small_policy):
    return ActionExpertRuntime(small_policy, ExecutorConfig(strategy="rtc"),
                               RuntimeConfig(latent_timeout_s=0.3, state_timeout_s=0.3))


def _js(rt, now, q=None):
    names = ("finger_extra",) + NAMES[::-1]  # other order + an extra joint: matched by name
    q = np.arange(8.0) * 0.1 if q is None else q
    return rt.on_joint_state(names, np.r_[9.9, q[::-1]], now)


def _step(rt, now):
    req, why = rt.prepare(now)
    if req is None:
        return why
    rt.commit(req, rt.run(req), now + 0.01, 0.01)
    return None


def test_nothing_is_streamed_before_any_joint_state(rt):
    assert rt.stream(0.0) is None and rt.mode == NO_INPUT


def test_without_latent_it_holds_the_first_joint_state(rt):
    assert _js(rt, 0.0) is None
    _js(rt, 0.01, q=np.ones(8))  # later states do not move the hold target
    assert _step(rt, 0.02) == "no latent yet"
    out = rt.stream(0.02)
    assert out.mode == NO_LATENT_HOLD and np.allclose(out.values, np.arange(8.0) * 0.1)
    assert out.chunk_sequence == 0


def test_with_inputs_it_streams_chunks(rt):
    _js(rt, 0.0)
    assert rt.on_latent(np.zeros(16), 0.0) is None
    assert _step(rt, 0.05) is None
    out = rt.stream(0.07)
    assert out.mode == STREAMING and out.chunk_sequence == 1 and np.all(np.isfinite(out.values))


def test_stale_latent_finishes_the_chunk_then_holds(rt, small_policy):
    _js(rt, 0.0)
    rt.on_latent(np.zeros(16), 0.0)
    assert _step(rt, 0.1) is None
    _js(rt, 0.5)
    assert _step(rt, 0.5).startswith("latent stale")
    chunk = rt.executor.newest
    mid = rt.stream(0.1 + 0.05)
    assert mid.mode == STREAMING and mid.chunk_sequence == 1
    after = rt.stream(chunk.end_s + 0.2)
    later = rt.stream(chunk.end_s + 1.0)
    assert after.mode == HOLDING and np.array_equal(after.values, chunk.actions[-1])
    assert np.array_equal(later.values, after.values)


def test_stale_joint_state_stops_new_chunks(rt):
    _js(rt, 0.0)
    rt.on_latent(np.zeros(16), 0.9)
    assert _step(rt, 1.0) == "joint state stale"


@pytest.mark.parametrize("latent,stamp,match", [
    (np.zeros(15), 0.0, "expected latent_dim 16"),
    (np.zeros(128), 0.0, "expected latent_dim 16"),
    (np.full(16, np.nan), 0.0, "NaN"),
    (np.zeros(16), float("inf"), "NaN"),
])
def test_bad_latent_is_rejected_with_a_reason(rt, latent, stamp, match):
    err = rt.on_latent(latent, stamp)
    assert err is not None and match in err and rt.rejected["latent"] == 1
    _js(rt, 0.0)
    assert _step(rt, 0.0) == "no latent yet"


def test_joint_state_missing_a_name_is_rejected(rt):
    err = rt.on_joint_state(NAMES[:-1], np.zeros(7), 0.0)
    assert "gripper" in err and rt.stream(0.0) is None


@pytest.mark.parametrize("q", [np.full(8, np.nan), np.r_[np.zeros(7), np.inf]])
def test_non_finite_joint_state_is_rejected(rt, q):
    assert "NaN" in rt.on_joint_state(NAMES, q, 0.0)


def test_joint_state_with_too_few_positions_is_rejected(rt):
    assert "positions" in rt.on_joint_state(NAMES, np.zeros(3), 0.0)


def test_stream_never_emits_nan_over_a_long_run(rt):
    _js(rt, 0.0)
    for k in range(40):
        t = 0.1 * k
        rt.on_latent(np.random.default_rng(k).normal(size=16) * 100.0, t)
        _js(rt, t)
        _step(rt, t)
        for j in range(20):
            out = rt.stream(t + 0.005 * j)
            assert np.all(np.isfinite(out.values))
    assert rt.rejected["nonfinite_stream"] == 0


def test_wrist_image_model_waits_for_an_image_then_streams(small_config):
    from vla_action_expert.policy import ActionExpertPolicy
    pol = ActionExpertPolicy.random_init(small_config.replace(wrist_image_size=16))
    rt = ActionExpertRuntime(pol)
    rt.on_joint_state(NAMES, np.zeros(8), 0.0)
    rt.on_latent(np.zeros(16), 0.0)
    assert _step(rt, 0.01) == "no wrist image yet"
    rt.on_wrist_image(np.zeros((128, 128, 3), np.uint8))  # camera resolution, resized inside
    assert _step(rt, 0.02) is None and rt.stream(0.03).mode == STREAMING


def test_request_names_the_wrist_frame_it_carries(small_config, small_policy):
    from vla_action_expert.policy import ActionExpertPolicy
    pol = ActionExpertPolicy.random_init(small_config.replace(wrist_image_size=16))
    rt = ActionExpertRuntime(pol)
    rt.on_joint_state(NAMES, np.zeros(8), 0.0, 0.004)
    rt.on_latent(np.zeros(16), 0.0)
    late = np.full((32, 32, 3), 7, np.uint8)
    rt.on_wrist_image(late, 0.1)
    req, _ = rt.prepare(0.2)
    assert req.wrist_stamp_s == 0.1 and req.wrist_image is late and req.state_stamp_s == 0.004
    # a checkpoint without a wrist image: no wrist stamp, whatever the node was given
    rt = ActionExpertRuntime(small_policy)
    rt.on_joint_state(NAMES, np.zeros(8), 0.0)
    rt.on_latent(np.zeros(16), 0.0)
    rt.on_wrist_image(late, 0.1)
    assert rt.prepare(0.05)[0].wrist_stamp_s == 0.0


def test_two_wrist_cameras_wait_for_both_then_stack_in_camera_order(small_config):
    from vla_action_expert.policy import ActionExpertPolicy
    cfg = small_config.replace(wrist_image_size=16, wrist_image_channels=6,
                               wrist_cameras=("left_wrist", "right_wrist"))
    rt = ActionExpertRuntime(ActionExpertPolicy.random_init(cfg))
    rt.on_joint_state(NAMES, np.zeros(8), 0.0)
    rt.on_latent(np.zeros(16), 0.0)
    rt.on_wrist_image(np.full((64, 64, 3), 30, np.uint8), 0.1, camera_index=1)
    assert rt.prepare(0.15) == (None, "no wrist image yet")
    rt.on_wrist_image(np.full((48, 48, 3), 10, np.uint8), 0.1, camera_index=0)
    req, _ = rt.prepare(0.2)
    assert req.wrist_image.shape == (16, 16, 6) and req.wrist_stamp_s == 0.1
    assert np.all(req.wrist_image[..., :3] == 10) and np.all(req.wrist_image[..., 3:] == 30)
    assert _step(rt, 0.21) is None


def test_wrist_camera_index_beyond_the_checkpoints_cameras_is_an_error(small_config):
    from vla_action_expert.policy import ActionExpertPolicy
    rt = ActionExpertRuntime(ActionExpertPolicy.random_init(small_config.replace(wrist_image_size=16)))
    with pytest.raises(IndexError, match="1 wrist camera"):
        rt.on_wrist_image(np.zeros((8, 8, 3), np.uint8), 0.0, camera_index=1)
