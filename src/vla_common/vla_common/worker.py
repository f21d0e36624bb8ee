"""A thread that runs one heavy job when triggered (ROS-free).

Nodes spin a single-threaded executor (rclpy's MultiThreadedExecutor busy-polls its wait set
while a mutually exclusive group is busy, which took a whole core and starved the other
threads: ros2/rclpy#1452). Heavy work (model inference) therefore runs here: the node's timer
calls ``trigger()``, which never blocks, and the job runs on this thread. A trigger that comes
while the job is still running is coalesced into one more run, never queued up, so a slow model
lowers the rate instead of building a backlog.
"""
from __future__ import annotations

import threading
from typing import Callable


class TriggeredWorker:
    """Runs ``job()`` on a daemon thread each time ``trigger()`` is called.

    Args:
        job: the work; called with no arguments on the worker thread.
        name: thread name (shows in py-spy / top -H).
        on_error: called with the exception when ``job`` raises; the worker keeps running.
            Without it the exception is stored in ``last_error`` only.
    """

    def __init__(self, job: Callable[[], None], name: str,
                 on_error: Callable[[BaseException], None] | None = None):
        self._job = job
        self._on_error = on_error
        self._wake = threading.Condition()
        self._pending = False
        self._stopped = False
        self._busy = False
        self.runs = 0          # completed runs (including ones that raised)
        self.coalesced = 0     # triggers that arrived while a run was already pending or busy
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def trigger(self) -> bool:
        """Ask for one run. Returns False when it was merged into a run already asked for."""
        with self._wake:
            if self._stopped:
                return False
            merged = self._pending or self._busy
            if merged:
                self.coalesced += 1
            self._pending = True
            self._wake.notify()
            return not merged

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop after the current run. Returns True when the thread ended within ``timeout_s``."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def busy(self) -> bool:
        return self._busy

    def _loop(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending or self._stopped)
                if self._stopped:
                    return
                self._pending = False
                self._busy = True
            try:
                self._job()
            except BaseException as e:  # noqa: BLE001 - report, keep the worker alive
                self.last_error = e
                if self._on_error is not None:
                    try:
                        self._on_error(e)
                    except Exception:  # noqa: BLE001 - a failing reporter must not kill us
                        pass
            finally:
                with self._wake:
                    self._busy = False
                    self.runs += 1
                    self._wake.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no run is pending or busy (for tests and shutdown)."""
        with self._wake:
            return self._wake.wait_for(lambda: not (self._pending or self._busy), timeout_s)
