"""State machine latching and watchdog staleness (times passed in)."""
import math

import pytest

from vla_safety.state_machine import Severity, State, StateMachine
from vla_safety.watchdogs import HeartbeatMonitor, Watchdog


def running():
    sm = StateMachine()
    assert sm.ready(0.0) and sm.run(0.1)
    return sm


def test_faults_only_escalate_and_latch_until_reset():
    sm = running()
    assert sm.fault(1.0, Severity.HOLD, "a") and sm.state == State.HOLD
    assert not sm.fault(1.1, Severity.HOLD, "again")
    assert sm.fault(1.2, Severity.STOP, "b") and sm.state == State.STOPPED
    assert not sm.fault(1.3, Severity.HOLD, "lower")
    assert sm.state == State.STOPPED
    ok, msg = sm.reset(2.0, healthy=False, why_not="joint states stale")
    assert not ok and "joint states stale" in msg and sm.state == State.STOPPED
    ok, _ = sm.reset(2.1, healthy=True)
    assert ok and sm.state == State.READY


def test_warn_never_changes_state_and_reset_without_latch_is_refused():
    sm = running()
    assert not sm.fault(1.0, Severity.WARN, "clamped")
    assert sm.state == State.RUNNING
    assert sm.reset(1.0, True)[0] is False


def test_degraded_recovers_without_reset_but_estop_overrides():
    sm = running()
    assert sm.degrade(1.0, "latent stale") and sm.state == State.DEGRADED
    assert sm.recover(1.5, "fresh") and sm.state == State.RUNNING
    sm.degrade(2.0, "latent stale")
    assert sm.fault(2.1, Severity.ESTOP, "button") and sm.state == State.ESTOP
    assert [t.dst for t in sm.history][-2:] == [State.DEGRADED, State.ESTOP]
    assert sm.transition_count == len(sm.history)


def test_state_values_match_safety_status_constants():
    assert [s.value for s in State] == list(range(7))
    assert [s.value for s in Severity] == [0, 1, 2, 3]


@pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan, math.inf])
def test_watchdog_rejects_bad_timeout(timeout):
    with pytest.raises(ValueError):
        Watchdog("x", timeout)


def test_watchdog_stale_after_timeout_and_ignores_old_or_nan_feeds():
    d = Watchdog("x", 0.1)
    assert not d.stale(5.0) and d.age_s(5.0) == math.inf
    d.feed(1.0)
    d.feed(0.5)
    d.feed(math.nan)
    assert d.last_s == 1.0
    assert not d.stale(1.09) and d.stale(1.11)
    assert Watchdog("y", 0.1, stale_before_first=True).stale(0.0)


def test_heartbeat_monitor_reports_never_seen_and_stale_nodes():
    h = HeartbeatMonitor(("a", "b"), 1.0)
    assert h.missing(0.0) == ["a", "b"]
    h.feed("/a", 0.0)
    h.feed("zzz", 0.0)
    assert h.missing(0.5) == ["b"]
    h.feed("b", 0.5)
    assert h.missing(1.2) == ["a"]
