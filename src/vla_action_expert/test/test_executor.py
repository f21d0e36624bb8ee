"""Chunk executor: time alignment, interpolation, the three strategies, delay measurement."""
import math

import numpy as np
import pytest

from vla_action_expert.executor import ChunkExecutor, ExecutorConfig, TimedChunk
from vla_action_expert.execution_sim import boundary_metrics, simulate_execution

P = 0.02  # row period


def ramp_chunk(start, H=8, D=2, slope=1.0, offset=0.0, seq=1):
    t = start + P * np.arange(H)
    return TimedChunk(offset + slope * np.stack([t] * D, axis=1), start, P, seq)


@pytest.mark.parametrize("interp", ["linear", "cubic"])
@pytest.mark.parametrize("start", [0.0, 123.456, 1.7e9])
def test_value_at_row_times_is_exactly_the_row(interp, start):
    rows = np.random.default_rng(0).normal(size=(8, 3))
    c = TimedChunk(rows, start, P)
    for i in range(8):
        assert np.array_equal(c.value_at(start + i * P, interp), rows[i])


@pytest.mark.parametrize("interp", ["linear", "cubic"])
def test_stream_faster_than_rows_interpolates_in_time(interp):
    c = ramp_chunk(10.0, H=8, D=1)  # linear in time: both interpolations are exact on a line
    for k in range(4 * 7 + 1):  # every 5 ms
        t = 10.0 + k * 0.005
        assert c.value_at(t, interp)[0] == pytest.approx(t, abs=1e-9)


def test_value_outside_chunk_holds_first_and_last_row():
    c = ramp_chunk(1.0)
    assert np.array_equal(c.value_at(0.5), c.actions[0])
    assert np.array_equal(c.value_at(9.0), c.actions[-1])


@pytest.mark.parametrize("bad", [np.full((4, 2), np.nan), np.zeros((0, 2)), np.zeros(3),
                                 np.array([[np.inf, 0.0]])])
def test_bad_chunk_is_rejected(bad):
    with pytest.raises(ValueError):
        TimedChunk(bad, 0.0, P)


@pytest.mark.parametrize("period", [0.0, -0.02, float("nan")])
def test_bad_period_is_rejected(period):
    with pytest.raises(ValueError):
        TimedChunk(np.zeros((2, 2)), 0.0, period)


def test_no_chunk_gives_none():
    assert ChunkExecutor().action_at(0.0) is None


def test_naive_switches_at_arrival_and_stays_time_aligned():
    ex = ChunkExecutor(ExecutorConfig(strategy="naive"))
    a = TimedChunk(np.zeros((8, 1)), 0.0, P, 1)
    b = TimedChunk(np.ones((8, 1)) + np.arange(8)[:, None], 0.1, P, 2)
    ex.add_chunk(a, 0.0)
    assert ex.action_at(0.145).values[0] == 0.0
    ex.add_chunk(b, 0.15)  # requested at 0.1, arrived 50 ms later
    out = ex.action_at(0.15)
    assert out.chunk_sequence == 2 and out.step_index == 2  # row of 0.1 + 2.5 * 20 ms
    assert out.values[0] == pytest.approx(b.value_at(0.15)[0])
    assert ex.action_at(0.16).values[0] == 1.0 + 3.0  # exactly row 3


def test_holding_after_the_last_row():
    ex = ChunkExecutor(ExecutorConfig(strategy="naive"))
    c = ramp_chunk(0.0)
    ex.add_chunk(c, 0.0)
    out = ex.action_at(c.end_s + 0.5)
    assert out.holding and np.array_equal(out.values, c.actions[-1]) and out.step_index == 7


@pytest.mark.parametrize("m", [0.0, 0.01, 1.0])
def test_ensemble_weights_oldest_most(m):
    ex = ChunkExecutor(ExecutorConfig(strategy="ensemble", ensemble_decay=m))
    ex.add_chunk(TimedChunk(np.zeros((8, 1)), 0.0, P, 1), 0.0)
    ex.add_chunk(TimedChunk(np.ones((8, 1)), 0.04, P, 2), 0.05)
    w1 = math.exp(-m)
    assert ex.action_at(0.06).values[0] == pytest.approx(w1 / (1.0 + w1))
    # after the old chunk ends only the new one votes
    assert ex.action_at(0.15).values[0] == pytest.approx(1.0)


def test_delay_estimate_ignores_warmup_inferences():
    ex = ChunkExecutor(ExecutorConfig(warmup_inferences=2, delay_margin_s=0.0, delay_percentile=50))
    assert ex.delay_estimate_s() == ExecutorConfig().initial_delay_s
    for d in (5.0, 5.0, 0.03, 0.03, 0.03):
        ex.record_delay(d)
    assert ex.delay_estimate_s() == pytest.approx(0.03)


def test_rtc_guidance_freezes_rows_executed_during_the_delay():
    cfg = ExecutorConfig(strategy="rtc", warmup_inferences=0, delay_margin_s=0.0,
                         delay_percentile=100)
    ex = ChunkExecutor(cfg)
    old = ramp_chunk(0.0, H=16, D=2)
    ex.add_chunk(old, 0.0)
    ex.record_delay(0.05)
    target, w = ex.guidance(0.1, 16, P)
    times = 0.1 + P * np.arange(16)
    assert np.allclose(target, old.values_at(times))  # time-aligned with the old chunk
    # rows before 0.1 + 0.05 (0.10, 0.12, 0.14) plus the 2 rows cubic interpolation reads
    assert np.all(w[:5] == 1.0) and w[5] < 1.0
    assert np.all(np.diff(w[3:]) <= 0) and np.all(w[times > old.end_s + 1e-6] == 0.0)


def test_guidance_is_none_for_other_strategies_or_without_a_chunk():
    assert ChunkExecutor(ExecutorConfig(strategy="rtc")).guidance(0.0, 8, P) is None
    ex = ChunkExecutor(ExecutorConfig(strategy="naive"))
    ex.add_chunk(ramp_chunk(0.0), 0.0)
    assert ex.guidance(0.0, 8, P) is None


def _inconsistent_predictor(H, D):
    """A 'model' whose chunks disagree with each other (a bimodal policy switching modes), but
    that honours an RTC guide the way the guided sampler does (target where weight is 1)."""
    rng = np.random.default_rng(0)

    def predict(obs, guide):
        offset = rng.uniform(-0.05, 0.05, D)  # chunks do not start exactly at the state
        base = obs["state"] + offset + rng.choice([-0.3, 0.3]) * np.linspace(0, 1, H)[:, None]
        if guide is None:
            return base
        tgt, w = guide
        return w[:, None] * tgt + (1 - w[:, None]) * base
    return predict


@pytest.mark.parametrize("delay_s", [0.02, 0.05, 0.08])
def test_rtc_is_continuous_at_chunk_boundaries_where_naive_jumps(delay_s):
    H, D = 16, 2
    res = {}
    for strat in ("naive", "ensemble", "rtc"):
        r = simulate_execution(_inconsistent_predictor(H, D), lambda t, s: {"state": s},
                               ExecutorConfig(strategy=strat, warmup_inferences=0), H, P,
                               np.zeros(D), duration_s=2.0, delay_s=delay_s)
        res[strat] = boundary_metrics(r)
    assert res["rtc"]["jump_max"] < 0.25 * res["naive"]["jump_mean"]
    assert res["rtc"]["jerk_p50"] < res["naive"]["jerk_p50"]
    assert res["ensemble"]["jump_mean"] < res["naive"]["jump_mean"]


def test_simulation_rejects_delay_longer_than_the_inference_period():
    with pytest.raises(ValueError):
        simulate_execution(None, None, ExecutorConfig(), 8, P, np.zeros(1), delay_s=0.2,
                           inference_period_s=0.1)


@pytest.mark.parametrize("kw", [{"strategy": "bogus"}, {"interpolation": "spline"},
                                {"ensemble_decay": -1.0}, {"delay_percentile": 101.0},
                                {"ensemble_decay": float("nan")}])
def test_bad_executor_config_is_rejected(kw):
    with pytest.raises(ValueError):
        ExecutorConfig(**kw)
