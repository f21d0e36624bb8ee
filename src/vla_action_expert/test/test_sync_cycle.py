"""The synchronous baseline's cycle without ROS: a real planner core (tiny deterministic backbone)
and the real action expert runtime, times passed in."""
import numpy as np
import pytest

from vla_action_expert.executor import ExecutorConfig
from vla_action_expert.runtime import NO_LATENT_HOLD, STREAMING, ActionExpertRuntime
from vla_action_expert.sync_cycle import SyncCycle
from vla_planner.backbone import Backbone, BackboneOutput, check_images, check_instruction
from vla_planner.planner_core import PlannerCore, PlannerNodeConfig

NAMES = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("gripper",)
CAMS = ("scene", "wrist")
PERIOD = 0.02


class CountingBackbone(Backbone):
    """A real (tiny, deterministic) backbone: 16-d latent from pixel means and text length;
    counts its calls."""
    latent_dim = 16
    cameras = CAMS
    model_id = "counting"

    def __init__(self):
        self.calls = 0

    def infer(self, images, instruction, proprio=None):
        imgs = check_images(images, self.cameras)
        t = check_instruction(instruction)
        self.calls += 1
        z = np.full(self.latent_dim, imgs[0].mean() / 255.0 + len(t) * 1e-3, np.float32)
        return BackboneOutput(z, 1e-3)


class Clock:
    """A fake wall timer for the reported compute durations (never used for decisions)."""
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 0.001
        return self.t


@pytest.fixture
def parts(small_policy):
    bb = CountingBackbone()
    core = PlannerCore(bb, PlannerNodeConfig(stamp_tolerance_s=0.02, max_image_age_s=0.5))
    core.set_instruction("pick up the red cube")
    rt = ActionExpertRuntime(small_policy, ExecutorConfig(strategy="naive"))
    return bb, core, rt, SyncCycle(rt, core, timer=Clock())


def _images(core, t, value=10):
    for c in CAMS:
        core.add_image(c, t, np.full((8, 8, 3), value, np.uint8))


def _state(rt, t, q=None):
    q = np.arange(8.0) * 0.1 if q is None else q
    assert rt.on_joint_state(NAMES, q, t) is None


def test_rtc_or_ensemble_executor_is_refused(small_policy):
    core = PlannerCore(CountingBackbone(), PlannerNodeConfig())
    for s in ("rtc", "ensemble"):
        with pytest.raises(ValueError, match="naive"):
            SyncCycle(ActionExpertRuntime(small_policy, ExecutorConfig(strategy=s)), core)


def test_chunk_runs_out_then_exactly_one_blocking_call(parts, small_policy):
    bb, core, rt, sync = parts
    H = small_policy.config.horizon
    _images(core, 0.0)
    _state(rt, 0.0)
    assert sync.request(0.0)
    assert not sync.request(0.0) and not sync.due(0.005)  # in flight: no second call
    call = sync.call(0.0)
    assert call.chunk is not None and call.chunk.shape == (H, 8) and call.reason == ""
    assert call.planner.latent is not None and bb.calls == 1
    assert call.request.latent_stamp_s == 0.0
    assert np.allclose(call.request.latent, call.planner.latent)  # S1 ran on this call's latent
    assert call.s2_wall_s > 0 and call.s1_wall_s > 0
    assert not sync.request(0.01)  # returned but not committed: still in flight
    sync.commit(call, 0.03)
    end = 0.03 + H * PERIOD
    assert sync.chunk_end_s == pytest.approx(end)
    # while the chunk executes: no call, however often asked
    for t in np.arange(0.035, end - 0.001, 0.005):
        _images(core, float(t))
        assert not sync.request(float(t))
    assert bb.calls == 1 and sync.calls == 1
    # run out: exactly one call
    assert sync.request(end)
    assert not sync.request(end + 0.005)
    call2 = sync.call(end)
    assert call2.chunk is not None and bb.calls == 2
    assert call2.request.sequence == call.request.sequence + 1
    sync.commit(call2, end + 0.02)
    assert (sync.calls, sync.latents, sync.chunks) == (2, 2, 2)


def test_arm_holds_during_the_call_and_the_chunk_starts_at_its_return(parts, small_policy):
    _, core, rt, sync = parts
    H = small_policy.config.horizon
    _images(core, 0.0)
    _state(rt, 0.0)
    hold0 = rt.stream(0.0)
    assert hold0.mode == NO_LATENT_HOLD
    assert sync.request(0.0)
    call = sync.call(0.0)
    # the call took 0.05 s: the stream keeps holding the first joint state meanwhile
    for t in (0.01, 0.03, 0.049):
        out = rt.stream(t)
        assert out.mode == NO_LATENT_HOLD and np.array_equal(out.values, hold0.values)
    tc = sync.commit(call, 0.05)
    assert tc.start_s == 0.05 and tc.sequence == call.request.sequence
    out = rt.stream(0.05)  # row 0 plays at the return time, not at the request time
    assert out.mode == STREAMING and out.step_index == 0
    assert np.allclose(out.values, call.chunk[0])
    out = rt.stream(0.05 + 3 * PERIOD)
    assert out.step_index == 3 and np.allclose(out.values, call.chunk[3])
    # after the last row: the arm holds it until the next call's chunk arrives
    last = 0.05 + (H - 1) * PERIOD
    assert sync.request(0.05 + H * PERIOD)
    _images(core, 0.05 + H * PERIOD)
    call2 = sync.call(0.05 + H * PERIOD)
    for t in (last + 0.01, last + 0.05, last + 0.1):
        out = rt.stream(t)
        assert out.chunk_sequence == tc.sequence and np.allclose(out.values, call.chunk[-1])
    sync.commit(call2, last + 0.11)
    out = rt.stream(last + 0.11)
    assert out.chunk_sequence == call2.request.sequence and np.allclose(out.values, call2.chunk[0])


def test_call_without_chunk_ends_and_is_retried(parts):
    bb, core, rt, sync = parts
    _state(rt, 0.0)
    assert sync.request(0.0)
    call = sync.call(0.0)  # no images yet: the planner skips, the call ends
    assert call.chunk is None and call.reason.startswith("planner:") and bb.calls == 0
    with pytest.raises(ValueError, match="no chunk"):
        sync.commit(call, 0.01)
    _images(core, 0.005)
    assert sync.request(0.005)  # retried at once
    call = sync.call(0.005)
    assert call.chunk is not None
    sync.commit(call, 0.01)
    # same images again after the chunk: the planner skips (repeated frames), no chunk, retry
    t = sync.chunk_end_s
    assert sync.request(t)
    c2 = sync.call(t)
    assert c2.chunk is None and "no new images" in c2.reason and bb.calls == 1
    _images(core, t + 0.005)
    assert sync.request(t + 0.005) and sync.call(t + 0.005).chunk is not None


def test_stale_joint_state_gives_a_latent_but_no_chunk(parts):
    _, core, rt, sync = parts
    _images(core, 1.0)
    _state(rt, 0.0)  # 1 s old at the call (state_timeout_s 0.5)
    assert sync.request(1.0)
    call = sync.call(1.0)
    assert call.planner.latent is not None and call.chunk is None
    assert call.reason == "joint state stale" and not sync.in_flight
    assert sync.latents == 1 and sync.chunks == 0


def test_clock_jumping_back_before_the_chunk_ends_it(parts):
    _, core, rt, sync = parts
    _images(core, 10.0)
    _state(rt, 10.0)
    assert sync.request(10.0)
    sync.commit(sync.call(10.0), 10.02)
    assert not sync.due(10.1) and not sync.due(10.02)
    assert sync.due(2.0)  # the clock went back (e.g. a looping bag): call again at once
    _state(rt, 2.0)
    assert sync.request(2.0)
    assert "clock went back" in sync.call(2.0).reason  # the planner drops its newer frames
    _images(core, 2.0)
    assert sync.request(2.0)
    tc = sync.commit(sync.call(2.0), 2.01)
    assert tc.start_s == 2.01 and rt.stream(2.02).chunk_sequence == tc.sequence
