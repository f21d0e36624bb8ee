"""Recording session (ROS-free): messages arrive already serialized from any thread, go into a
queue, and one writer thread puts them in the bag, so a slow disk never blocks the subscriber
callbacks. Received and written counts per topic are kept and reported at the end."""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

from vla_tools.bags.topics import TopicSpec
from vla_tools.bags.writer import BagWriter, qos_yaml


@dataclass(frozen=True)
class RecorderConfig:
    """Recorder node parameters.

    output_dir: bag directory to create ('' = ./bags/<robot>_<mode>_<UTC time>).
    topics: include globs over the stack topics (empty = all); exclude_topics: globs to drop.
    extra_topics: more topics as '/name:pkg/msg/Type[:latched]'.
    split_max_size_mb / split_max_duration_s: start a new .mcap file (0 = never).
    keep_all: reliable KEEP_ALL subscriptions (the reader keeps every sample until taken);
    qos_depth: keep-last depth when keep_all is false.
    max_duration_s: stop by itself after this much wall time (0 = until SIGINT/SIGTERM).
    drain_quiet_s / drain_timeout_s: after a stop request keep taking from the subscriptions
    until no sample sent before the request arrived for drain_quiet_s, at most drain_timeout_s
    (a second SIGINT/SIGTERM ends it at once); what is left then is counted as abandoned.
    """
    output_dir: str = ""
    topics: tuple[str, ...] = ()
    exclude_topics: tuple[str, ...] = ()
    extra_topics: tuple[str, ...] = ()
    record_clock: bool = False
    split_max_size_mb: float = 0.0
    split_max_duration_s: float = 0.0
    compression: str = "zstd"
    keep_all: bool = True
    qos_depth: int = 1000
    max_duration_s: float = 0.0
    report_period_s: float = 5.0
    heartbeat_period_s: float = 0.5
    drain_quiet_s: float = 0.5
    drain_timeout_s: float = 10.0

    def __post_init__(self):
        if self.qos_depth < 1:
            raise ValueError("qos_depth must be >= 1")
        if self.drain_quiet_s <= 0 or self.drain_timeout_s < 0:
            raise ValueError("drain_quiet_s must be > 0 and drain_timeout_s >= 0")
        if self.split_max_size_mb < 0 or self.split_max_duration_s < 0 or self.max_duration_s < 0:
            raise ValueError("split_max_size_mb, split_max_duration_s, max_duration_s must be >= 0")


@dataclass
class TopicCounts:
    received: int = 0
    written: int = 0
    lost_upstream: int = 0  # reported by the middleware (message-lost events)
    abandoned: int = 0  # still queued when a cut-short stop drain ended (never written)


@dataclass
class DrainResult:
    """How the stop drain went: samples taken after the stop request, and whether the bound
    (or a second stop signal) ended it before the subscriptions went quiet."""
    drained: int = 0
    cut_short: bool = False
    reason: str = ""  # vla_tools.bags.stop_drain state: quiet | timed_out | forced
    duration_s: float = 0.0


@dataclass
class RecordReport:
    path: str
    counts: dict[str, TopicCounts] = field(default_factory=dict)
    error: str = ""
    drain: DrainResult | None = None  # None: the session was stopped without a drain

    @property
    def received(self) -> int:
        return sum(c.received for c in self.counts.values())

    @property
    def written(self) -> int:
        return sum(c.written for c in self.counts.values())

    @property
    def dropped(self) -> int:
        return sum(c.received - c.written + c.lost_upstream + c.abandoned
                   for c in self.counts.values())

    def text(self) -> str:
        lines = [f"recorded bag {self.path}: received {self.received}, written {self.written}, "
                 f"dropped {self.dropped}"]
        for t, c in sorted(self.counts.items()):
            lost = c.lost_upstream or c.abandoned
            flag = "" if c.received == c.written and not lost else "  <-- DROPPED"
            lines.append(f"  {t:40s} received {c.received:8d}  written {c.written:8d}  "
                         f"lost upstream {c.lost_upstream:4d}"
                         + (f"  abandoned {c.abandoned}" if c.abandoned else "") + flag)
        d = self.drain
        if d is not None:
            how = (f"CUT SHORT ({d.reason}), abandoned {sum(c.abandoned for c in self.counts.values())}"
                   if d.cut_short else "complete")
            lines.append(f"stop drain: {d.drained} received after the stop request in "
                         f"{d.duration_s:.1f} s, {how}")
        if self.error:
            lines.append(f"ERROR: {self.error}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"received": self.received, "written": self.written, "dropped": self.dropped,
                "error": self.error,
                "drain": vars(self.drain) if self.drain is not None else None,
                "topics": {t: vars(c) for t, c in self.counts.items()}}


class RecordingSession:
    """Owns the bag writer and its thread.

    Args:
        writer: an open BagWriter (topics are added here).
        specs: topics to record.
    """

    def __init__(self, writer: BagWriter, specs: list[TopicSpec]):
        self.writer = writer
        self.counts = {s.name: TopicCounts() for s in specs}
        for s in specs:
            writer.add_topic(s.name, s.msgtype, qos_yaml(transient_local=s.latched))
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bag_writer", daemon=True)
        self.error = ""
        self.drain: DrainResult | None = None
        self.closed = False
        self._accepting = True

    def start(self) -> None:
        self._thread.start()

    def on_message(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """Called from subscription callbacks (any thread)."""
        with self._lock:
            if not self._accepting:
                return  # arrived after stop(): not part of this recording
            self.counts[topic].received += 1
            self._q.put((topic, log_time_ns, data))

    def on_lost(self, topic: str, n: int) -> None:
        with self._lock:
            self.counts[topic].lost_upstream += int(n)

    def on_abandoned(self, topic: str, n: int = 1) -> None:
        """A sample left in the subscription when a cut-short drain ended."""
        with self._lock:
            self.counts[topic].abandoned += int(n)

    @property
    def backlog(self) -> int:
        return self._q.qsize()

    def _run(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is None:
                return
            if self.error:
                continue  # keep draining; the report shows these as not written
            topic, t_ns, data = item
            try:
                self.writer.write(topic, t_ns, data)
                self.counts[topic].written += 1
            except Exception as e:  # noqa: BLE001 - disk full etc.: stop writing, report it
                self.error = f"writing {topic} failed: {type(e).__name__}: {e}"

    def stop(self, timeout_s: float = 30.0) -> RecordReport:
        """Write everything queued, close the bag, return the counts (idempotent)."""
        if not self.closed:
            with self._lock:
                self._accepting = False
            self._q.put(None)
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(timeout_s)
            report = self.report()
            self.writer.set_custom_data("vla_recorder", report.as_dict())
            try:
                self.writer.close()
            except Exception as e:  # noqa: BLE001
                self.error = self.error or f"closing bag failed: {e}"
            self.closed = True
        return self.report()

    def report(self) -> RecordReport:
        with self._lock:
            counts = {t: TopicCounts(**vars(c)) for t, c in self.counts.items()}
        return RecordReport(str(self.writer.path), counts, self.error, self.drain)
