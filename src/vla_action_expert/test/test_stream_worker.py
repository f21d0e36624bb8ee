"""The stream process's logic without ROS: deadlines, mirror executor, malformed messages."""
import math

import numpy as np
import pytest

from vla_action_expert.executor import ExecutorConfig
from vla_action_expert.runtime import HOLDING, NO_INPUT, NO_LATENT_HOLD, STREAMING, ActionExpertRuntime
from vla_action_expert.stream_worker import PeriodicDeadlines, StreamSpec, StreamWorker

NAMES = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("gripper",)


def _spec(strategy="rtc", **kw):
    return StreamSpec.make("vla_action_expert", "/vla/action", NAMES, 200.0,
                           ExecutorConfig(strategy=strategy), **kw)


def _chunk_msg(tc, available_s):
    return ("chunk", tc.actions, tc.start_s, tc.period_s, tc.sequence, available_s)


# --- deadlines -----------------------------------------------------------------------------------
def test_deadlines_on_time_wait_until_each_absolute_deadline():
    d = PeriodicDeadlines(0.005, 10.0)
    assert d.advance(10.0) == pytest.approx(0.005)
    assert d.advance(10.004) == pytest.approx(0.006)  # absolute: a late wake-up does not drift
    assert d.skipped == 0


def test_deadlines_a_little_late_tick_at_once_without_dropping():
    d = PeriodicDeadlines(0.005, 0.0)
    assert d.advance(0.008) < 0  # 3 ms late: tick now, the schedule keeps its phase
    assert d.advance(0.009) == pytest.approx(0.001)
    assert d.skipped == 0


def test_deadlines_far_behind_skip_ticks_instead_of_bursting():
    d = PeriodicDeadlines(0.005, 0.0)
    assert d.advance(0.1) == 0.0
    assert d.skipped == 18  # (0.1 - 0.005) / 0.005 whole periods missed
    assert d.advance(0.1) == pytest.approx(0.005)  # restarted at the late time


@pytest.mark.parametrize("period", [0.0, -1.0, math.inf, math.nan])
def test_deadlines_reject_a_bad_period(period):
    with pytest.raises(ValueError, match="period_s"):
        PeriodicDeadlines(period, 0.0)


# --- spec ----------------------------------------------------------------------------------------
def test_spec_round_trips_through_its_dict():
    s = _spec(rt_priority=50)
    assert StreamSpec(**s.to_dict()) == s


@pytest.mark.parametrize("kw,match", [({"rate_hz": 0.0}, "rate_hz"), ({"names": ()}, "names"),
                                      ({"executor": {"strategy": "bogus"}}, "strategy")])
def test_spec_rejects_bad_values(kw, match):
    d = {**_spec().to_dict(), **kw}
    with pytest.raises(ValueError, match=match):
        StreamSpec(**d)


# --- worker --------------------------------------------------------------------------------------
def test_worker_before_any_input_sends_nothing():
    w = StreamWorker(_spec())
    assert w.tick(0.0) is None and w.stream.mode == NO_INPUT


def test_worker_holds_the_first_hold_value_it_is_sent():
    w = StreamWorker(_spec())
    w.handle(("hold", np.arange(8.0)))
    w.handle(("hold", np.ones(8)))  # later hold values change nothing (latched)
    out = w.tick(0.0)
    assert out.mode == NO_LATENT_HOLD and np.array_equal(out.values, np.arange(8.0))


@pytest.mark.parametrize("strategy", ["naive", "ensemble", "rtc"])
def test_worker_streams_exactly_what_the_runtime_streams_in_process(small_policy, strategy):
    """The mirror executor fed the committed chunks gives the in-process stream bit-exactly."""
    rt = ActionExpertRuntime(small_policy, ExecutorConfig(strategy=strategy))
    w = StreamWorker(_spec(strategy))
    rt.on_joint_state(NAMES, np.linspace(0, 1, 8), 0.0)
    w.handle(("hold", rt.hold_value()))
    for k in range(6):
        t = 0.1 * k
        rt.on_latent(np.random.default_rng(k).normal(size=16), t)
        rt.on_joint_state(NAMES, np.linspace(0, 1, 8) + 0.01 * k, t)
        req, _ = rt.prepare(t)
        tc = rt.commit(req, rt.run(req), t + 0.03, 0.03)
        w.handle(_chunk_msg(tc, t + 0.03))
        for j in range(20):
            now = t + 0.03 + 0.005 * j
            a, b = rt.stream(now), w.tick(now)
            assert np.array_equal(a.values, b.values)
            assert (a.chunk_sequence, a.step_index, a.mode) == (b.chunk_sequence, b.step_index,
                                                                 b.mode)
    assert w.tick(100.0).mode == HOLDING and w.stream.mode == HOLDING
    assert w.rejected == 0


@pytest.mark.parametrize("msg,match", [
    (("chunk", np.zeros((4, 3)), 0.0, 0.02, 1, 0.0), "3 DoF"),
    (("chunk", np.full((4, 8), np.nan), 0.0, 0.02, 1, 0.0), "NaN"),
    (("chunk", np.zeros((4, 8)), 0.0, 0.0, 1, 0.0), "period"),
    (("chunk", np.zeros((4, 8))), ""),
    (("hold", np.zeros(3)), "8 finite"),
    (("hold", np.full(8, np.inf)), "8 finite"),
    (("bogus",), "unknown"),
    ((), ""),
])
def test_worker_counts_and_ignores_a_malformed_message(msg, match):
    w = StreamWorker(_spec())
    w.handle(("hold", np.zeros(8)))
    assert w.handle(msg) is None
    assert w.rejected == 1 and match in w.last_error
    out = w.tick(0.0)  # still holding, nothing partial applied
    assert out.mode == NO_LATENT_HOLD and np.array_equal(out.values, np.zeros(8))


def test_worker_answers_stats_only_when_asked_and_stops_on_stop():
    w = StreamWorker(_spec())
    w.handle(("hold", np.zeros(8)))
    for k in range(5):
        w.tick(0.005 * k)
    kind, st = w.handle(("stats",))
    assert kind == "stats" and st["ticks"] == 5 and st["rate_hz"] == pytest.approx(200.0)
    assert st["mode"] == NO_LATENT_HOLD and st["rejected"] == 0
    assert w.handle(("stop",)) is None and w.stopped


def test_worker_stream_of_a_committed_chunk_is_streaming_mode():
    from vla_action_expert.executor import TimedChunk
    w = StreamWorker(_spec("naive"))
    tc = TimedChunk(np.tile(np.arange(8.0), (4, 1)), 1.0, 0.02, 3)
    w.handle(_chunk_msg(tc, 1.01))
    out = w.tick(1.02)
    assert out.mode == STREAMING and out.chunk_sequence == 3 and out.step_index == 1
