"""Rate and latency statistics (ROS-free): rolling windows fed with times passed in."""
from __future__ import annotations

from collections import deque

import numpy as np


class RollingStats:
    """Keeps the last ``window`` samples and reports percentiles.

    Args:
        window: number of samples kept.
    """

    def __init__(self, window: int = 1000):
        if window < 1:
            raise ValueError("window must be >= 1")
        self._v: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> None:
        self._v.append(float(value))

    def __len__(self) -> int:
        return len(self._v)

    def percentile(self, q: float) -> float:
        """``q``-th percentile of the window, NaN if empty."""
        return float(np.percentile(np.fromiter(self._v, float), q)) if self._v else float("nan")

    def mean(self) -> float:
        return float(np.mean(np.fromiter(self._v, float))) if self._v else float("nan")

    def summary(self) -> dict[str, float]:
        return {"n": float(len(self._v)), "mean": self.mean(), "p50": self.percentile(50),
                "p99": self.percentile(99), "max": self.percentile(100)}


class RateMeter:
    """Measures the rate and period jitter of an event stream from the times it is given.

    The times may be sim time or wall time: the meter never reads a clock itself.
    """

    def __init__(self, window: int = 1000):
        self.periods_s = RollingStats(window)
        self._last_s: float | None = None
        self.count = 0

    def tick(self, now_s: float) -> None:
        if self._last_s is not None and now_s > self._last_s:
            self.periods_s.add(now_s - self._last_s)
        self._last_s = now_s
        self.count += 1

    def rate_hz(self) -> float:
        """Mean rate over the window (0 before two ticks)."""
        m = self.periods_s.mean()
        return 0.0 if not np.isfinite(m) or m <= 0 else 1.0 / m
