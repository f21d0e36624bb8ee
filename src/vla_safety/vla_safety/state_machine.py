"""The supervisor's state machine (ROS-free). Diagram and rules: docs/SAFETY.md.

INIT -> READY (fresh joint states) -> RUNNING (first valid command) -> DEGRADED (slowing down,
not latched) / HOLD -> STOPPED -> ESTOP. Faults only escalate; HOLD, STOPPED and ESTOP latch and
are left only through :meth:`StateMachine.reset` with healthy inputs, which goes to READY.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class State(IntEnum):
    """Values equal vla_interfaces/SafetyStatus STATE_* constants."""
    INIT = 0
    READY = 1
    RUNNING = 2
    HOLD = 3
    DEGRADED = 4
    STOPPED = 5
    ESTOP = 6


class Severity(IntEnum):
    """Values equal vla_interfaces/SafetyFault SEVERITY_* constants."""
    WARN = 0
    HOLD = 1
    STOP = 2
    ESTOP = 3


# escalation order; a fault moves the machine only upwards
_RANK = {State.INIT: 0, State.READY: 0, State.RUNNING: 0, State.DEGRADED: 1, State.HOLD: 2,
         State.STOPPED: 3, State.ESTOP: 4}
_SEVERITY_STATE = {Severity.HOLD: State.HOLD, Severity.STOP: State.STOPPED,
                   Severity.ESTOP: State.ESTOP}
LATCHED = frozenset({State.HOLD, State.STOPPED, State.ESTOP})
MOVING = frozenset({State.RUNNING, State.DEGRADED})


@dataclass(frozen=True)
class Transition:
    t_s: float
    src: State
    dst: State
    reason: str


class StateMachine:
    """Holds the state, counts transitions and keeps their history (time passed in)."""

    def __init__(self, history: int = 256):
        self.state = State.INIT
        self.transition_count = 0
        self.last_reason = "start"
        self.history: list[Transition] = []
        self._history_len = history

    def _go(self, now_s: float, dst: State, reason: str) -> bool:
        if dst == self.state:
            return False
        self.history.append(Transition(now_s, self.state, dst, reason))
        del self.history[:-self._history_len]
        self.state = dst
        self.transition_count += 1
        self.last_reason = reason
        return True

    @property
    def latched(self) -> bool:
        return self.state in LATCHED

    def fault(self, now_s: float, severity: Severity, reason: str) -> bool:
        """Escalate for a fault of ``severity`` (WARN never changes state). Returns True on change."""
        dst = _SEVERITY_STATE.get(Severity(severity))
        if dst is None or _RANK[dst] <= _RANK[self.state]:
            return False
        return self._go(now_s, dst, reason)

    def ready(self, now_s: float, reason: str = "joint states healthy") -> bool:
        """INIT -> READY."""
        return self.state == State.INIT and self._go(now_s, State.READY, reason)

    def run(self, now_s: float, reason: str = "first valid command") -> bool:
        """READY -> RUNNING."""
        return self.state == State.READY and self._go(now_s, State.RUNNING, reason)

    def degrade(self, now_s: float, reason: str) -> bool:
        """RUNNING -> DEGRADED (slow down; not latched)."""
        return self.state == State.RUNNING and self._go(now_s, State.DEGRADED, reason)

    def recover(self, now_s: float, reason: str) -> bool:
        """DEGRADED -> RUNNING once its cause cleared."""
        return self.state == State.DEGRADED and self._go(now_s, State.RUNNING, reason)

    def reset(self, now_s: float, healthy: bool, why_not: str = "") -> tuple[bool, str]:
        """Leave a latched state for READY (explicit operator action).

        Args:
            now_s: time of the request.
            healthy: every input fresh and no fault condition present.
            why_not: what is unhealthy (for the reply) when ``healthy`` is False.
        Returns:
            ``(accepted, message)``.
        """
        if not self.latched:
            return False, f"nothing to reset: state is {self.state.name}"
        if not healthy:
            return False, f"reset refused in {self.state.name}: {why_not or 'inputs unhealthy'}"
        prev = self.state.name
        self._go(now_s, State.READY, f"reset from {prev}")
        return True, f"reset from {prev} to READY"
