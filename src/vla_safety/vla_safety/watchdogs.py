"""Staleness watchdogs (ROS-free): every time is passed in, so they run under sim time too."""
from __future__ import annotations

import math


class Watchdog:
    """Reports a stream stale when nothing arrived for longer than ``timeout_s``.

    A watchdog is *armed* by its first ``feed``; before that ``stale`` answers
    ``stale_before_first`` (True for streams that must exist, e.g. joint states).

    Args:
        name: stream name (for messages).
        timeout_s: allowed silence (> 0, finite).
        stale_before_first: what ``stale`` returns before the first sample.
    Raises:
        ValueError: non-positive or non-finite timeout.
    """

    def __init__(self, name: str, timeout_s: float, stale_before_first: bool = False):
        if not math.isfinite(timeout_s) or timeout_s <= 0:
            raise ValueError(f"watchdog {name}: timeout_s must be finite and > 0, got {timeout_s}")
        self.name = name
        self.timeout_s = float(timeout_s)
        self.stale_before_first = stale_before_first
        self.last_s: float | None = None

    @property
    def armed(self) -> bool:
        return self.last_s is not None

    def feed(self, t_s: float) -> None:
        """Record a sample seen at ``t_s`` (time never goes backwards here)."""
        if math.isfinite(t_s) and (self.last_s is None or t_s > self.last_s):
            self.last_s = float(t_s)

    def age_s(self, now_s: float) -> float:
        """Seconds since the last sample (``inf`` before the first)."""
        return math.inf if self.last_s is None else max(0.0, now_s - self.last_s)

    def stale(self, now_s: float) -> bool:
        if self.last_s is None:
            return self.stale_before_first
        return now_s - self.last_s > self.timeout_s

    def disarm(self) -> None:
        self.last_s = None


class HeartbeatMonitor:
    """One watchdog per watched node name, fed from /diagnostics status names.

    Unlike the stream watchdogs, a watched node that never reported counts as missing.
    """

    def __init__(self, names: tuple[str, ...], timeout_s: float):
        self.dogs = {n: Watchdog(f"heartbeat:{n}", timeout_s, stale_before_first=True)
                     for n in names}

    def feed(self, name: str, t_s: float) -> None:
        """Record a heartbeat; names not watched are ignored (leading '/' stripped)."""
        d = self.dogs.get(name.lstrip("/"))
        if d is not None:
            d.feed(t_s)

    def missing(self, now_s: float) -> list[str]:
        """Watched nodes whose heartbeat is stale or never arrived."""
        return [n for n, d in self.dogs.items() if d.stale(now_s)]
