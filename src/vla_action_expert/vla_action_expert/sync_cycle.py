"""The synchronous baseline (ROS-free): System 2 and System 1 in one blocking call per chunk.

Public VLA stacks run the whole model once per chunk: observe, run the VLM, run the action
head, execute the chunk to its end, observe again. ``SyncCycle`` does that with the same cores
the dual system uses (a ``vla_planner.planner_core.PlannerCore`` and an ``ActionExpertRuntime``):

1. ``request(now_s)``: True when the current chunk has run out (its last row's period has
   passed, ``start + H * period``) and no call is in flight; it then marks a call in flight.
2. ``call(now_s)``: the blocking call: the planner's step on its newest stamp-matched images and
   instruction, the latent into the runtime, then one System 1 chunk on that latent and the
   joint state at ``now_s``. Meanwhile the runtime's stream holds the last row of the previous
   chunk (or the first joint state before any chunk): the arm holds.
3. ``commit(call, now_s)`` with ``now_s`` = when the call returned: the chunk's row 0 is meant
   for ``now_s`` (not for the request time), so the chunk runs whole, open loop, from the
   moment it exists.

A call that makes no chunk (planner skipped: no instruction, no new images, ...; runtime
refused: stale input; non-finite output) ends the call, and the next ``request`` may start
another at once. Times are arguments; the only clock read is ``timer`` (default
``time.perf_counter``), used for the reported compute durations, never for a decision.

The runtime's executor must be ``naive``: every chunk ends before the next one exists, so the
switch is always naive, and an RTC guide (which would pin the new chunk's first rows to the
held pose) is not part of the baseline.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vla_action_expert.executor import TimedChunk
from vla_action_expert.runtime import ActionExpertRuntime, InferenceRequest

_EPS = 1e-9  # float tolerance on sim-time comparisons (times are sums of physics steps)


@dataclass(frozen=True)
class SyncCall:
    """What one blocking call produced.

    ``planner``: the planner's ``CycleResult`` (its ``latent`` is None when it skipped);
    ``request``/``chunk``: the System 1 request and its [H, D] chunk (None when no chunk);
    ``reason``: "" when a chunk was made, else why not; ``s2_wall_s``/``s1_wall_s``: compute
    durations (planner step; latent hand-over + System 1).
    """
    planner: object
    request: InferenceRequest | None
    chunk: np.ndarray | None
    reason: str
    s2_wall_s: float = float("nan")
    s1_wall_s: float = float("nan")

    @property
    def wall_s(self) -> float:
        return self.s2_wall_s + self.s1_wall_s


class SyncCycle:
    """One blocking planner + expert call per chunk (see the module docstring).

    Thread-safe: ``request`` may be called from a stream tick while ``call`` runs on an
    inference thread.

    Raises:
        ValueError: the runtime's executor strategy is not ``naive``.
    """

    def __init__(self, runtime: ActionExpertRuntime, planner,
                 timer: Callable[[], float] = time.perf_counter):
        strategy = runtime.executor.config.strategy
        if strategy != "naive":
            raise ValueError(f"the synchronous baseline executes each chunk to its end with "
                             f"naive switching; the runtime's executor is '{strategy}'")
        self.runtime, self.planner, self._timer = runtime, planner, timer
        self.chunk_duration_s = runtime.policy.config.chunk_duration_s  # H rows x period: the last row's slot too
        self._lock = threading.Lock()
        self._in_flight = False
        self._chunk_end_s = -np.inf
        self.calls = 0     # calls started
        self.latents = 0   # latents the planner made in those calls
        self.chunks = 0    # chunks committed

    # --- scheduling ---------------------------------------------------------------------------
    @property
    def in_flight(self) -> bool:
        with self._lock:
            return self._in_flight

    @property
    def chunk_end_s(self) -> float:
        """When the current chunk has run out (-inf before the first chunk)."""
        with self._lock:
            return self._chunk_end_s

    def _ran_out(self, now_s: float) -> bool:
        # a clock that jumped back before the chunk's start (bag loop, sim restart) ends it too
        end = self._chunk_end_s
        return now_s + _EPS >= end or now_s + _EPS < end - self.chunk_duration_s

    def due(self, now_s: float) -> bool:
        """True when the current chunk has run out and no call is in flight."""
        with self._lock:
            return not self._in_flight and self._ran_out(now_s)

    def request(self, now_s: float) -> bool:
        """Claim the next call if it is due (then ``call`` must follow). Never blocks long."""
        with self._lock:
            if self._in_flight or not self._ran_out(now_s):
                return False
            self._in_flight = True
            return True

    # --- the blocking call --------------------------------------------------------------------
    def call(self, now_s: float, clock: Callable[[], float] | None = None) -> SyncCall:
        """Planner step for time ``now_s``, then one System 1 chunk on its latent.

        Args:
            now_s: the call's time (the planner takes the newest images as of it).
            clock: reads the time again for System 1's request once the planner has returned
                (a node's clock: time moves on during the blocking planner step, and System 1
                takes the newest joint state as of that moment, so its request is stamped
                then; a re-run looks the state up at that stamp). None: ``now_s`` (the
                in-process rollout, whose simulated time stands still during the call).

        Call after ``request`` returned True. With a chunk the call stays in flight until
        ``commit``; without one it ends here. A non-finite model output is counted in
        ``runtime.rejected["chunk"]`` and reported as the reason.
        """
        made = False
        try:
            with self._lock:
                self._in_flight = True
                self.calls += 1
            w0 = self._timer()
            res = self.planner.step(now_s)
            w1 = self._timer()
            if res.latent is None:
                return SyncCall(res, None, None, f"planner: {res.reason}", w1 - w0)
            self.latents += 1
            err = self.runtime.on_latent(res.latent, res.stamp_s)
            if err:
                return SyncCall(res, None, None, f"latent rejected: {err}", w1 - w0)
            req, why = self.runtime.prepare(now_s if clock is None else clock())
            if req is None:
                return SyncCall(res, None, None, why, w1 - w0, self._timer() - w1)
            try:
                chunk = self.runtime.run(req)
            except ValueError as e:
                self.runtime.rejected["chunk"] += 1
                return SyncCall(res, req, None, f"rejected chunk: {e}", w1 - w0,
                                self._timer() - w1)
            made = True
            return SyncCall(res, req, chunk, "", w1 - w0, self._timer() - w1)
        finally:
            if not made:
                with self._lock:
                    self._in_flight = False

    def commit(self, call: SyncCall, now_s: float) -> TimedChunk:
        """Start the call's chunk at ``now_s`` (= when the call returned) and end the call.

        Raises:
            ValueError: the call made no chunk.
        """
        if call.chunk is None or call.request is None:
            raise ValueError(f"the call made no chunk ({call.reason})")
        try:
            # the measured delay (return - request) only feeds the diagnostics under naive
            tc = self.runtime.commit(call.request, call.chunk, now_s, call.s1_wall_s,
                                     start_s=now_s)
            with self._lock:
                self._chunk_end_s = now_s + self.chunk_duration_s
                self.chunks += 1
            return tc
        finally:  # a failed commit must not leave the cycle waiting forever
            with self._lock:
                self._in_flight = False
