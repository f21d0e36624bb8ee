"""Chunk execution (ROS-free): turns time-stamped action chunks into one action per stream tick.

Strategies (``ExecutorConfig.strategy``):
- ``naive``: the newest chunk takes over the moment it arrives.
- ``ensemble``: ACT-style temporal ensembling: every chunk that covers time t votes with weight
  exp(-m * k), k = 0 for the oldest covering chunk (ACT's convention; m = ``ensemble_decay``).
- ``rtc``: real-time chunking: switch on arrival like ``naive``, but before each inference the
  executor hands the policy a guide (``guidance``): the rows that will execute during the
  measured inference delay are frozen to the current chunk and the rest of the overlap is
  softly pulled towards it, so the new chunk joins the old one without a jump.

Chunks are aligned by time stamps: row i of a chunk is meant for ``start_s + i * period_s``;
stream ticks between rows are interpolated in time (linear or Catmull-Rom cubic, both exact at
row times). Times are passed in (``now_s``); nothing here reads a clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vla_common.timing import RollingStats

STRATEGIES = ("naive", "ensemble", "rtc")
INTERPOLATIONS = ("linear", "cubic")
_SNAP = 1e-4  # a tick within 1e-4 rows (2 us at 20 ms) of a row time is that row (float time)


@dataclass(frozen=True)
class ExecutorConfig:
    strategy: str = "rtc"
    interpolation: str = "cubic"
    ensemble_decay: float = 0.01       # ACT m, per chunk (oldest chunk weighs most)
    warmup_inferences: int = 3         # first inferences (allocator/JIT warm-up) not timed
    delay_window: int = 50             # measured delays kept for the estimate
    delay_percentile: float = 90.0     # delay estimate used to size the frozen prefix
    initial_delay_s: float = 0.02      # estimate before any measurement
    delay_margin_s: float = 0.005      # added to the estimate (about one stream tick)
    rtc_soft_overlap: bool = True      # pull the rest of the overlap towards the old chunk

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got '{self.strategy}'")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}")
        if not (self.ensemble_decay >= 0 and math.isfinite(self.ensemble_decay)):
            raise ValueError("ensemble_decay must be finite and >= 0")
        if self.warmup_inferences < 0 or self.delay_window < 1:
            raise ValueError("warmup_inferences >= 0 and delay_window >= 1 required")
        if not (0.0 <= self.delay_percentile <= 100.0):
            raise ValueError("delay_percentile must be in [0, 100]")
        if not (self.initial_delay_s >= 0 and self.delay_margin_s >= 0):
            raise ValueError("initial_delay_s and delay_margin_s must be >= 0")


@dataclass(frozen=True)
class TimedChunk:
    """H x D actions; row i is meant for ``start_s + i * period_s``."""
    actions: np.ndarray
    start_s: float
    period_s: float
    sequence: int = 0

    def __post_init__(self):
        a = np.array(self.actions, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"chunk actions must be [H >= 1, D >= 1], got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("chunk contains NaN or inf")
        if not (self.period_s > 0 and math.isfinite(self.period_s) and math.isfinite(self.start_s)):
            raise ValueError("chunk period_s must be > 0 and times finite")
        a.setflags(write=False)
        object.__setattr__(self, "actions", a)

    @property
    def horizon(self) -> int:
        return self.actions.shape[0]

    @property
    def end_s(self) -> float:
        """Time of the last row."""
        return self.start_s + (self.horizon - 1) * self.period_s

    def row_position(self, t_s: float) -> float:
        """Fractional row index of time ``t_s`` (snapped to an integer within 1e-4 rows)."""
        u = (t_s - self.start_s) / self.period_s
        r = round(u)
        return float(r) if abs(u - r) < _SNAP else u

    def value_at(self, t_s: float, interpolation: str = "cubic") -> np.ndarray:
        """Action at time ``t_s``: interpolated between rows, held at the ends.

        Args:
            t_s: time (same clock as ``start_s``).
            interpolation: ``linear`` or ``cubic`` (Catmull-Rom; exact at row times).
        Returns:
            [D] action.
        """
        a = self.actions
        H = a.shape[0]
        u = min(max(self.row_position(t_s), 0.0), H - 1.0)
        if u == math.floor(u):  # on a row time (incl. H == 1): the row itself, bit-exact
            return a[int(u)].copy()
        i = min(int(math.floor(u)), H - 2)
        f = u - i
        p1, p2 = a[i], a[i + 1]
        if interpolation == "linear":
            return p1 + f * (p2 - p1)
        # missing neighbours at the ends are extrapolated linearly, so straight lines stay exact
        p0 = a[i - 1] if i > 0 else 2.0 * p1 - p2
        p3 = a[i + 2] if i + 2 < H else 2.0 * p2 - p1
        return 0.5 * (2.0 * p1 + (p2 - p0) * f + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * f * f
                      + (3.0 * p1 - p0 - 3.0 * p2 + p3) * f * f * f)

    def values_at(self, times_s, interpolation: str = "cubic") -> np.ndarray:
        return np.stack([self.value_at(float(t), interpolation) for t in times_s])


@dataclass(frozen=True)
class StepOut:
    """One streamed action and where it came from."""
    values: np.ndarray
    chunk_sequence: int
    step_index: int
    holding: bool  # past the end of the newest chunk: its last row is held


class ChunkExecutor:
    """Holds the chunks in flight and answers ``action_at(now_s)``. Not thread-safe: callers lock."""

    def __init__(self, config: ExecutorConfig = ExecutorConfig()):
        self.config = config
        self.delays_s = RollingStats(config.delay_window)
        self._n_delays_seen = 0
        self.reset()

    def reset(self) -> None:
        self._chunks: list[TimedChunk] = []  # oldest first
        self.last: StepOut | None = None

    @property
    def newest(self) -> TimedChunk | None:
        return self._chunks[-1] if self._chunks else None

    # --- inference delay ----------------------------------------------------------------------
    def record_delay(self, delay_s: float) -> None:
        """Record one measured inference delay (request time to chunk available), in the stream's
        clock. The first ``warmup_inferences`` are ignored (allocator and cache warm-up)."""
        self._n_delays_seen += 1
        if self._n_delays_seen <= self.config.warmup_inferences:
            return
        if math.isfinite(delay_s) and delay_s >= 0:
            self.delays_s.add(delay_s)

    def delay_estimate_s(self) -> float:
        """Expected inference delay: a high percentile of the measured ones (+ margin)."""
        c = self.config
        d = self.delays_s.percentile(c.delay_percentile) if len(self.delays_s) else c.initial_delay_s
        return d + c.delay_margin_s

    # --- chunks -------------------------------------------------------------------------------
    def add_chunk(self, chunk: TimedChunk, now_s: float) -> None:
        """Take a new chunk (arrived at ``now_s``). Chunks that ended before now are dropped.

        Raises:
            ValueError: action dim differs from the chunks in flight.
        """
        if self._chunks and self._chunks[-1].actions.shape[1] != chunk.actions.shape[1]:
            raise ValueError("chunk action dim changed")
        self._chunks.append(chunk)
        self._prune(now_s)

    def _prune(self, now_s: float) -> None:
        if self.config.strategy == "ensemble":
            keep = [c for c in self._chunks if c.end_s >= now_s]
        else:  # the newest started chunk rules; older ones are no longer needed
            started = [i for i, c in enumerate(self._chunks) if c.start_s <= now_s]
            first = started[-1] if started else 0
            keep = self._chunks[first:]
        self._chunks = keep or self._chunks[-1:]

    def action_at(self, now_s: float) -> StepOut | None:
        """The action for time ``now_s``; None before any chunk arrived."""
        if not self._chunks:
            return None
        self._prune(now_s)
        interp = self.config.interpolation
        if self.config.strategy == "ensemble":
            cover = [c for c in self._chunks if c.start_s <= now_s <= c.end_s + 1e-9]
            if cover:
                w = np.exp(-self.config.ensemble_decay * np.arange(len(cover)))
                vals = np.stack([c.value_at(now_s, interp) for c in cover])
                src = cover[-1]
                out = StepOut((w[:, None] * vals).sum(0) / w.sum(), src.sequence,
                              self._row(src, now_s), False)
                self.last = out
                return out
        started = [c for c in self._chunks if c.start_s <= now_s]
        src = started[-1] if started else self._chunks[0]
        holding = now_s > src.end_s + 1e-9
        out = StepOut(src.value_at(now_s, interp), src.sequence, self._row(src, now_s), holding)
        self.last = out
        return out

    @staticmethod
    def _row(c: TimedChunk, t_s: float) -> int:
        return int(min(max(math.floor(c.row_position(t_s)), 0), c.horizon - 1))

    def guidance(self, start_s: float, horizon: int, period_s: float):
        """RTC guide for a chunk that will start at ``start_s`` (the observation time).

        Returns:
            None unless the strategy is ``rtc`` and a chunk is in flight; else
            (target [H, D], weight [H]): target = the current chunk at the new rows' times;
            weight 1 for rows meant before ``start_s + delay estimate`` (they execute from the
            current chunk while the new one is computed) and for the 1 (linear) or 2 (cubic)
            rows after them that the interpolation at the switch reads, then (soft overlap) decaying
            c (e^c - 1) / (e - 1) to 0 at the current chunk's end, 0 beyond.
        """
        cur = self.newest
        if self.config.strategy != "rtc" or cur is None:
            return None
        times = start_s + period_s * np.arange(horizon)
        target = cur.values_at(times, self.config.interpolation)
        w = np.zeros(horizon)
        # interpolation near the switch reads neighbouring rows (1 ahead linear, 2 cubic):
        # freeze those too, so the stream is the same on both sides of the switch
        reach = 2 if self.config.interpolation == "cubic" else 1
        frozen = times < start_s + self.delay_estimate_s() + reach * period_s
        w[frozen] = 1.0
        d = int(frozen.sum())
        overlap = times <= cur.end_s + 1e-9
        e = int(overlap.sum())  # rows [d, e) overlap the current chunk without being frozen
        if self.config.rtc_soft_overlap and e > d:
            k = np.arange(d, e)
            c = 1.0 - (k - d + 1) / (e - d + 1)
            w[d:e] = c * np.expm1(c) / (math.e - 1.0)
        return target, w
