"""When a stopping recorder has taken everything it was sent (ROS-free; time is passed in).

A recorder that lags (a loaded 2-core machine) still holds seconds of samples in its reliable
KEEP_ALL readers when it is asked to stop; closing the bag right away lost them silently. After
the stop request it keeps taking until no sample *sent before the request* arrived for
``quiet_s``, or until ``timeout_s`` has passed (or a second stop signal came): then the drain was
cut short and whatever is still queued is counted as abandoned. Samples sent after the request
(a stack that is still running) are written too, but do not keep the drain going: otherwise a
recorder stopped while the stack runs could never go quiet.
"""
from __future__ import annotations

DRAINING, QUIET, TIMED_OUT, FORCED = "draining", "quiet", "timed_out", "forced"


class StopDrain:
    """Counts deliveries after the stop request and decides when the drain is over.

    Args:
        quiet_s: the drain is over once no backlog sample arrived for this long.
        timeout_s: bound on the whole drain (then it is cut short).
    """

    def __init__(self, quiet_s: float = 0.5, timeout_s: float = 10.0):
        if quiet_s <= 0 or timeout_s < 0:
            raise ValueError("drain quiet_s must be > 0 and timeout_s >= 0")
        self.quiet_s = quiet_s
        self.timeout_s = timeout_s
        self.started = False
        self.start_s = 0.0
        self.stop_wall_ns = 0
        self.drained = 0  # every sample taken after the stop request
        self.backlog = 0  # of those, sent before the request
        self._last_backlog_s = 0.0
        self._forced = False
        self._final: tuple[str, float] | None = None

    def start(self, now_s: float, wall_ns: int) -> None:
        """The stop request; ``wall_ns`` is the system clock, comparable to source stamps."""
        if not self.started:
            self.started = True
            self.start_s = self._last_backlog_s = now_s
            self.stop_wall_ns = wall_ns

    def force(self) -> None:
        """A second stop request: end the drain at the next ``status`` call."""
        self._forced = True

    def on_delivery(self, now_s: float, source_wall_ns: int) -> None:
        """A sample was taken; ``source_wall_ns`` = its publisher's stamp (<= 0: unknown)."""
        if not self.started:
            return
        self.drained += 1
        if self.sent_before_stop(source_wall_ns):
            self.backlog += 1
            self._last_backlog_s = now_s

    def sent_before_stop(self, source_wall_ns: int) -> bool:
        # unknown source time: assume backlog (a longer drain, never a silent loss)
        return source_wall_ns <= 0 or source_wall_ns <= self.stop_wall_ns

    def status(self, now_s: float) -> str:
        """DRAINING, or why it is over: QUIET (complete), TIMED_OUT or FORCED (cut short).

        The first non-DRAINING answer is final."""
        if self._final is not None:
            return self._final[0]
        if not self.started:
            return DRAINING
        if self._forced:
            state = FORCED
        elif now_s - self._last_backlog_s >= self.quiet_s:
            state = QUIET  # checked before the bound: a quiet drain at the bound is complete
        elif now_s - self.start_s >= self.timeout_s:
            state = TIMED_OUT
        else:
            return DRAINING
        self._final = (state, now_s - self.start_s)
        return state

    @property
    def cut_short(self) -> bool:
        return self._final is not None and self._final[0] in (TIMED_OUT, FORCED)

    @property
    def duration_s(self) -> float:
        return self._final[1] if self._final is not None else 0.0
