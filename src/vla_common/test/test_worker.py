import threading

import pytest

from vla_common.worker import TriggeredWorker


def test_trigger_runs_the_job_on_the_worker_thread():
    seen = []
    w = TriggeredWorker(lambda: seen.append(threading.current_thread().name), "job_thread")
    try:
        assert w.trigger() is True
        assert w.wait_idle(10.0)
        assert seen == ["job_thread"] and w.runs == 1
    finally:
        assert w.stop()


def test_triggers_during_a_run_coalesce_into_one_more_run_not_a_backlog():
    release = threading.Event()
    started = threading.Event()
    count = []

    def job():
        count.append(1)
        started.set()
        release.wait(10.0)

    w = TriggeredWorker(job, "slow")
    try:
        w.trigger()
        assert started.wait(10.0)
        merged = [w.trigger() for _ in range(5)]   # all while the first run blocks
        assert merged == [False] * 5 and w.coalesced == 5
        release.set()
        assert w.wait_idle(10.0)
        assert len(count) == 2   # the running one + one coalesced follow-up
    finally:
        release.set()
        w.stop()


def test_job_that_raises_is_reported_and_the_worker_keeps_running():
    errors = []
    calls = []

    def job():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("model failed")

    w = TriggeredWorker(job, "flaky", on_error=errors.append)
    try:
        w.trigger()
        assert w.wait_idle(10.0)
        w.trigger()
        assert w.wait_idle(10.0)
        assert len(calls) == 2 and w.runs == 2
        assert [str(e) for e in errors] == ["model failed"]
        assert isinstance(w.last_error, RuntimeError)
    finally:
        w.stop()


def test_failing_error_reporter_does_not_kill_the_worker():
    def bad_reporter(e):
        raise ValueError("reporter broke")

    w = TriggeredWorker(lambda: 1 / 0, "z", on_error=bad_reporter)
    try:
        for _ in range(2):
            w.trigger()
            assert w.wait_idle(10.0)
        assert w.runs == 2
    finally:
        w.stop()


@pytest.mark.parametrize("triggers", [0, 3])
def test_stop_ends_the_thread_and_later_triggers_are_ignored(triggers):
    calls = []
    w = TriggeredWorker(lambda: calls.append(1), "stopper")
    for _ in range(triggers):
        w.trigger()
        w.wait_idle(10.0)
    assert w.stop(timeout_s=10.0)
    assert w.trigger() is False
    assert len(calls) == triggers
