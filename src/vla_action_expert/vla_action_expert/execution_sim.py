"""Offline closed-loop simulation of chunk execution with an injected inference delay (ROS-free).

Used by the benchmark and the tests to compare the execution strategies: a stream tick every
``stream_period_s``; a chunk request every ``inference_period_s`` whose result becomes available
``delay_s`` later (as in deployment, the state at request time conditions the chunk, and the
arm keeps executing the old chunk meanwhile). The simulated arm tracks the streamed action
perfectly, so the state fed back is the last streamed action.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vla_action_expert.executor import ChunkExecutor, ExecutorConfig, TimedChunk


@dataclass
class SimResult:
    times_s: np.ndarray        # [N] stream tick times
    actions: np.ndarray        # [N, D] streamed actions
    switch_times_s: list[float]  # when a new chunk was taken


def simulate_execution(predict: Callable, obs_fn: Callable, executor_config: ExecutorConfig,
                       horizon: int, step_period_s: float, initial_state: np.ndarray,
                       duration_s: float = 3.0, stream_period_s: float = 0.005,
                       inference_period_s: float = 0.1, delay_s: float = 0.04) -> SimResult:
    """Run the stream for ``duration_s``.

    Args:
        predict: ``predict(obs, guide) -> [H, D]`` (e.g. a policy's predict_action_chunk).
        obs_fn: ``obs_fn(t_s, state) -> obs dict`` for a request at ``t_s``.
        executor_config: strategy and its settings.
        horizon, step_period_s: chunk layout.
        initial_state: [D] state before the first chunk (held until it arrives).
        duration_s, stream_period_s, inference_period_s, delay_s: timing (delay_s < inference
            period: one request in flight at a time).
    Returns:
        SimResult.
    Raises:
        ValueError: delay_s >= inference_period_s.
    """
    if not (0 <= delay_s < inference_period_s):
        raise ValueError("need 0 <= delay_s < inference_period_s")
    ex = ChunkExecutor(executor_config)
    n = int(round(duration_s / stream_period_s))
    state = np.asarray(initial_state, np.float64).copy()
    pending: tuple[float, TimedChunk] | None = None
    next_req = 0.0
    seq = 0
    times, acts, switches = [], [], []
    for k in range(n):
        t = k * stream_period_s
        if pending is not None and pending[0] <= t + 1e-12:
            ex.record_delay(pending[0] - pending[1].start_s)
            ex.add_chunk(pending[1], t)
            switches.append(t)
            pending = None
        if pending is None and t >= next_req - 1e-12:
            guide = ex.guidance(t, horizon, step_period_s)
            seq += 1
            chunk = predict(obs_fn(t, state), guide)
            pending = (t + delay_s, TimedChunk(chunk, t, step_period_s, seq))
            next_req = t + inference_period_s
        out = ex.action_at(t)
        if out is not None:
            state = out.values
        times.append(t)
        acts.append(state.copy())
    return SimResult(np.asarray(times), np.asarray(acts), switches)


def boundary_metrics(res: SimResult, window_ticks: int = 2) -> dict[str, float]:
    """Discontinuity at chunk switches: position jump and jerk around each switch.

    Returns:
        ``jump_mean`` / ``jump_max``: |a(t_sw) - (2 a(t_sw - dt) - a(t_sw - 2 dt))| (norm over
        DoF), the deviation from a constant-velocity continuation at each switch (ordinary
        motion contributes only its acceleration); ``jerk_p50`` / ``jerk_max``: max |third
        difference| / dt^3 within +-``window_ticks`` of each switch; ``jerk_all_p50``: median
        over the whole stream, for reference.
    """
    a, t = res.actions, res.times_s
    dt = float(t[1] - t[0])
    dev = np.linalg.norm(np.diff(a, n=2, axis=0), axis=1)  # dev[i - 2] belongs to tick i
    jerk = np.linalg.norm(np.diff(a, n=3, axis=0), axis=1) / dt ** 3
    jumps, jerks = [], []
    for ts in res.switch_times_s[1:]:  # the first chunk starts from the initial hold
        i = int(round(ts / dt))
        if i < 3 or i + window_ticks + 1 >= len(a):
            continue
        jumps.append(dev[i - 2])
        lo, hi = max(i - 3 - window_ticks, 0), min(i + window_ticks, len(jerk))
        jerks.append(jerk[lo:hi].max())
    if not jumps:
        return {"switches": 0.0}
    return {"switches": float(len(jumps)), "jump_mean": float(np.mean(jumps)),
            "jump_max": float(np.max(jumps)), "jerk_p50": float(np.median(jerks)),
            "jerk_max": float(np.max(jerks)), "jerk_all_p50": float(np.median(jerk))}
