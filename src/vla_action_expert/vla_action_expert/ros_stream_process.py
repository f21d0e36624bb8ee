"""The action stream in an OS process of its own (ROS adapter), for wall-clock runs.

Why a process: in the node's process the 200 Hz stream thread shares the GIL with model
inference and the executor. Even at SCHED_FIFO it then waits behind a lower-priority thread that
holds the GIL and has itself been preempted by other processes (priority inversion), which gave
p99 periods of 9-13 ms with the whole stack on 2 cores. The stream process has one Python thread,
so a real-time priority really lets it preempt everything else for its few hundred microseconds
per tick.

``StreamProcess`` (parent side) starts ``python -m vla_action_expert.ros_stream_process`` with
one end of a socket pair and forwards the hold value and every committed chunk
(``stream_worker`` documents the messages). The child publishes ``ActionStep`` on the stream
topic from its own rclpy node (``<node>_stream``), stamped with its system clock (the same
clock as the parent's under wall time). It exits on ``stop``, when the pipe closes, and when its
parent dies (PR_SET_PDEATHSIG), so it can never stream for a node that is gone.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from vla_action_expert.executor import TimedChunk
from vla_action_expert.stream_worker import (PeriodicDeadlines, StreamSpec, StreamWorker,
                                             apply_fifo_priority)

_PR_SET_PDEATHSIG = 1


class StreamProcess:
    """Parent-side handle of the stream process. ``send_*`` are thread-safe."""

    def __init__(self, spec: StreamSpec):
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "vla_action_expert.ros_stream_process",
             "--fd", str(theirs.fileno()), "--parent-pid", str(os.getpid()),
             "--spec", json.dumps(spec.to_dict())],
            pass_fds=(theirs.fileno(),))
        theirs.close()
        self._conn = Connection(ours.detach())
        self._send_lock = threading.Lock()
        self.stats: dict = {}

    @property
    def pid(self) -> int:
        return self._proc.pid

    def exit_code(self) -> int | None:
        """None while the child runs."""
        return self._proc.poll()

    def _send(self, msg) -> bool:
        if self._proc.poll() is not None:
            return False
        with self._send_lock:
            try:
                self._conn.send(msg)
                return True
            except OSError:
                return False

    def send_hold(self, values) -> bool:
        return self._send(("hold", [float(v) for v in values]))

    def send_chunk(self, tc: TimedChunk, available_s: float) -> bool:
        return self._send(("chunk", tc.actions, tc.start_s, tc.period_s, tc.sequence,
                           available_s))

    def poll_stats(self) -> dict:
        """The newest stats the child sent, then asks for fresh ones (answered by the next call)."""
        try:
            while self._conn.poll(0):
                msg = self._conn.recv()
                if msg and msg[0] == "stats":
                    self.stats = msg[1]
        except (EOFError, OSError):
            pass
        self._send(("stats",))
        return self.stats

    def stop(self, timeout_s: float = 2.0) -> None:
        self._send(("stop",))
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout_s)
        self._conn.close()


# --- the child -------------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        sys.exit(0)


def child_main(fd: int, parent_pid: int, spec: StreamSpec) -> int:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    import rclpy  # noqa: PLC0415 - only the child talks ROS
    from vla_common.ros_qos import stream_pub  # noqa: PLC0415
    from vla_common.ros_time import s_to_stamp  # noqa: PLC0415
    from vla_interfaces.msg import ActionStep  # noqa: PLC0415

    conn = Connection(fd)
    worker = StreamWorker(spec)
    rclpy.init(args=[])
    node = rclpy.create_node(spec.node_name + "_stream")
    pub = node.create_publisher(ActionStep, spec.topic, stream_pub(spec.rate_hz))
    log = node.get_logger()
    names = list(spec.names)
    # after rclpy.init, so the middleware's own threads keep normal scheduling
    if spec.rt_priority > 0:
        ok, what = apply_fifo_priority(spec.rt_priority)
        (log.info if ok else log.warning)(f"stream process: {what}")
    clock = node.get_clock()
    deadlines = PeriodicDeadlines(1.0 / spec.rate_hz, time.monotonic())
    rejected_logged = 0
    try:
        while not worker.stopped:
            # sleep (ns resolution; a poll timeout would round up to whole milliseconds), then
            # take what the parent sent since the last tick: a chunk is used from this tick on
            wait = deadlines.advance(time.monotonic())
            if wait > 0:
                time.sleep(wait)
            while not worker.stopped and conn.poll(0):
                reply = worker.handle(conn.recv())
                if reply is not None:
                    conn.send(reply)
            if worker.rejected != rejected_logged:
                rejected_logged = worker.rejected
                log.error(f"stream process rejected a message: {worker.last_error}")
            if worker.stopped:
                break
            now = clock.now().nanoseconds * 1e-9
            out = worker.tick(now)
            if out is None:
                continue
            m = ActionStep(names=names, values=out.values.tolist(),
                           chunk_sequence=out.chunk_sequence, step_index=out.step_index)
            m.header.stamp = s_to_stamp(now)
            pub.publish(m)
    except (EOFError, OSError, KeyboardInterrupt):
        pass  # parent gone or Ctrl-C: stop streaming
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--parent-pid", type=int, required=True)
    ap.add_argument("--spec", required=True, help="StreamSpec as JSON")
    a = ap.parse_args(argv)
    return child_main(a.fd, a.parent_pid, StreamSpec(**json.loads(a.spec)))


if __name__ == "__main__":
    sys.exit(main())
