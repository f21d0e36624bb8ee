"""The recorder's stop drain (ROS-free): when it is over, and how the report shows it.
Time is passed in; nothing here sleeps or reads a clock."""
from __future__ import annotations

import pytest

from vla_tools.bags.recorder import DrainResult, RecorderConfig, RecordingSession
from vla_tools.bags.stop_drain import DRAINING, FORCED, QUIET, TIMED_OUT, StopDrain
from vla_tools.bags.topics import TopicSpec
from vla_tools.bags.writer import BagWriter

STOP_WALL_NS = 1_000_000_000_000


def _started(quiet_s=0.5, timeout_s=10.0, t0=100.0):
    d = StopDrain(quiet_s, timeout_s)
    d.start(t0, STOP_WALL_NS)
    return d


def test_not_started_is_draining_and_ignores_deliveries():
    d = StopDrain()
    d.on_delivery(1.0, STOP_WALL_NS)
    assert d.status(1e9) == DRAINING and d.drained == 0 and not d.cut_short


def test_quiet_after_the_last_backlog_sample():
    d = _started()
    assert d.status(100.49) == DRAINING
    d.on_delivery(100.4, STOP_WALL_NS - 5)  # a sample sent before the stop request
    assert d.status(100.89) == DRAINING  # 0.49 s since it
    assert d.status(100.9) == QUIET
    assert not d.cut_short and d.drained == 1 and d.backlog == 1
    assert d.duration_s == pytest.approx(0.9)


def test_nothing_queued_is_quiet_after_quiet_s():
    d = _started(quiet_s=0.5)
    assert d.status(100.5) == QUIET and d.drained == 0 and not d.cut_short


def test_samples_sent_after_the_stop_are_counted_but_do_not_keep_the_drain_going():
    d = _started()
    for k in range(10):  # a stack still running: fresh samples every 0.1 s
        d.on_delivery(100.0 + 0.1 * k, STOP_WALL_NS + 1 + k)
    assert d.status(100.5) == QUIET
    assert d.drained == 10 and d.backlog == 0


def test_unknown_source_stamp_counts_as_backlog():
    d = _started()
    d.on_delivery(100.3, 0)
    assert d.backlog == 1 and d.status(100.7) == DRAINING and d.status(100.8) == QUIET


def test_a_steady_backlog_is_cut_short_at_the_bound():
    d = _started(quiet_s=0.5, timeout_s=2.0)
    k = 0
    while (state := d.status(100.0 + 0.1 * k)) == DRAINING:
        d.on_delivery(100.0 + 0.1 * k, STOP_WALL_NS - 1)
        k += 1
    assert state == TIMED_OUT and d.cut_short
    assert d.duration_s == pytest.approx(2.0)
    assert d.status(200.0) == TIMED_OUT  # final


def test_quiet_at_the_bound_is_complete_not_cut_short():
    d = _started(quiet_s=0.5, timeout_s=1.0)
    d.on_delivery(100.5, STOP_WALL_NS)
    assert d.status(101.0) == QUIET and not d.cut_short


def test_second_stop_request_ends_the_drain_at_once():
    d = _started()
    d.on_delivery(100.1, STOP_WALL_NS)
    d.force()
    assert d.status(100.2) == FORCED and d.cut_short


def test_zero_bound_stops_at_the_first_check():
    d = _started(timeout_s=0.0)
    assert d.status(100.0) == TIMED_OUT


@pytest.mark.parametrize("kw", [{"quiet_s": 0.0}, {"timeout_s": -1.0}])
def test_bad_drain_settings_are_rejected(kw):
    with pytest.raises(ValueError):
        StopDrain(**kw)


@pytest.mark.parametrize("kw", [{"drain_quiet_s": 0.0}, {"drain_timeout_s": -1.0}])
def test_recorder_config_rejects_bad_drain_settings(kw):
    with pytest.raises(ValueError):
        RecorderConfig(**kw)


def test_report_shows_the_drain_and_counts_abandoned_samples_as_dropped(tmp_path):
    spec = TopicSpec("/joint_states", "sensor_msgs/msg/JointState")
    s = RecordingSession(BagWriter(tmp_path / "bag"), [spec])
    s.start()
    s.on_abandoned("/joint_states", 7)
    s.drain = DrainResult(drained=40, cut_short=True, reason=TIMED_OUT, duration_s=10.0)
    r = s.stop()
    assert r.dropped == 7 and r.counts["/joint_states"].abandoned == 7
    assert "CUT SHORT (timed_out), abandoned 7" in r.text() and "DROPPED" in r.text()
    assert r.as_dict()["drain"] == {"drained": 40, "cut_short": True, "reason": TIMED_OUT,
                                    "duration_s": 10.0}


def test_report_of_a_complete_drain(tmp_path):
    s = RecordingSession(BagWriter(tmp_path / "bag"), [])
    s.start()
    s.drain = DrainResult(drained=3, cut_short=False, reason=QUIET, duration_s=0.6)
    r = s.stop()
    assert r.dropped == 0 and "stop drain: 3 received after the stop request" in r.text()
    assert "complete" in r.text()
