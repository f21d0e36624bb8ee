"""The action stream on its own, without ROS: deadlines, and the worker the stream process runs.

Under wall clock the stream can run in a process of its own (``ros_stream_process``), so that
its 200 Hz ticks never wait for the GIL behind model inference or the executor. The parent
(the node) sends it what the in-process stream would read from the runtime, over a pipe:

- ``("hold", values [D])``: the latched first joint state (held before the first chunk);
- ``("chunk", actions [H, D], start_s, period_s, sequence, available_s)``: every committed
  chunk, with the time the parent committed it (the worker's mirror executor takes it at that
  time, so both executors hold the same chunks);
- ``("stats",)``: asks for one ``("stats", {...})`` reply (the worker never sends unasked, so
  it can never block on a full pipe);
- ``("stop",)``: end the loop.

Times are passed in; nothing here reads a clock.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from vla_action_expert.executor import ChunkExecutor, ExecutorConfig, TimedChunk
from vla_action_expert.runtime import ActionStream, StreamOut


def apply_fifo_priority(prio: int, tid: int = 0) -> tuple[bool, str]:
    """SCHED_FIFO at ``prio`` for thread ``tid`` (0 = the calling thread); (applied, message).

    The stream wakes every period for a few hundred microseconds; real-time scheduling lets it
    preempt the sim and the models on a shared machine, as a robot's control threads do. Needs
    CAP_SYS_NICE; refused -> normal scheduling, said in the message.
    """
    try:
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(prio))
        return True, f"SCHED_FIFO priority {prio}"
    except (PermissionError, OSError, AttributeError) as e:
        return False, f"SCHED_FIFO {prio} refused ({e}); normal scheduling"


class PeriodicDeadlines:
    """Absolute tick deadlines at a fixed period; skips (never bursts) after falling behind.

    Args:
        period_s: tick period (> 0).
        start_s: time of the first deadline minus one period (usually "now").
    """

    def __init__(self, period_s: float, start_s: float):
        if not (period_s > 0 and math.isfinite(period_s)):
            raise ValueError("period_s must be finite and > 0")
        self.period_s = period_s
        self._next_s = start_s
        self.skipped = 0

    def advance(self, now_s: float) -> float:
        """Move to the next deadline; returns how long to wait for it (<= 0: tick now).

        A caller more than a period late restarts the schedule at ``now_s`` (one tick now, the
        missed ones are dropped): a stream that bursts to catch up would jerk the arm.
        """
        self._next_s += self.period_s
        wait = self._next_s - now_s
        if wait < -self.period_s:
            self.skipped += int(-wait // self.period_s)
            self._next_s = now_s
            return 0.0
        return wait


@dataclass(frozen=True)
class StreamSpec:
    """What the stream process needs to know (sent to it as JSON on its command line)."""
    node_name: str
    topic: str
    names: tuple[str, ...]
    rate_hz: float
    executor: dict = field(default_factory=dict)   # ExecutorConfig fields
    rt_priority: int = 0                            # > 0: SCHED_FIFO priority

    def __post_init__(self):
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise ValueError("rate_hz must be finite and > 0")
        if not self.names:
            raise ValueError("names must not be empty")
        object.__setattr__(self, "names", tuple(self.names))
        ExecutorConfig(**self.executor)  # validates

    @staticmethod
    def make(node_name: str, topic: str, names, rate_hz: float, executor: ExecutorConfig,
             rt_priority: int = 0) -> "StreamSpec":
        return StreamSpec(node_name, topic, tuple(names), rate_hz, asdict(executor), rt_priority)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["names"] = list(self.names)
        return d


class StreamWorker:
    """The stream process's logic: a mirror executor + ``ActionStream``, fed by messages."""

    def __init__(self, spec: StreamSpec):
        self.spec = spec
        self.stream = ActionStream(ChunkExecutor(ExecutorConfig(**spec.executor)))
        self.rejected = 0
        self.last_error = ""
        self.stopped = False

    def handle(self, msg) -> tuple | None:
        """Apply one parent message; returns the reply to send, if any.

        A malformed message is counted and ignored (``rejected``, ``last_error``): the stream
        keeps its current chunk or hold, it never takes a partial update.
        """
        try:
            kind = msg[0]
            if kind == "chunk":
                _, actions, start_s, period_s, seq, available_s = msg
                tc = TimedChunk(np.asarray(actions), float(start_s), float(period_s), int(seq))
                if tc.actions.shape[1] != len(self.spec.names):
                    raise ValueError(f"chunk has {tc.actions.shape[1]} DoF, stream has "
                                     f"{len(self.spec.names)}")
                self.stream.executor.add_chunk(tc, float(available_s))
            elif kind == "hold":
                v = np.asarray(msg[1], dtype=np.float64).reshape(-1)
                if v.shape[0] != len(self.spec.names) or not np.all(np.isfinite(v)):
                    raise ValueError(f"hold needs {len(self.spec.names)} finite values")
                self.stream.latch_hold(v)
            elif kind == "stats":
                return ("stats", self.stats())
            elif kind == "stop":
                self.stopped = True
            else:
                raise ValueError(f"unknown message '{kind}'")
        except (ValueError, TypeError, IndexError) as e:
            self.rejected += 1
            self.last_error = str(e)
        return None

    def tick(self, now_s: float) -> StreamOut | None:
        return self.stream.step(now_s)

    def stats(self) -> dict:
        r = self.stream.rate
        return {"mode": self.stream.mode, "rate_hz": r.rate_hz(),
                "period_p99_s": r.periods_s.percentile(99), "ticks": r.count,
                "nonfinite": self.stream.nonfinite, "rejected": self.rejected,
                "last_error": self.last_error}
