"""vla_recorder: records the stack's topics into a rosbag2 MCAP bag (ROS adapter).

Raw (serialized) subscriptions, reliable keep-last ``qos_depth``; a writer thread does the disk
work; received vs written counts are printed at the end and stored in metadata custom_data.
On SIGINT/SIGTERM (``run_node`` routes them to ``request_stop``) or ``max_duration_s`` it first
drains its subscriptions (``stop_drain.StopDrain``), then closes the bag.
Run: ``vla-record --ros-args -p output_dir:=/tmp/run1 -p max_duration_s:=10``.
"""
from __future__ import annotations

import sys
import threading
import time

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from vla_common.ros_node_base import OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_tools.bags.recorder import DrainResult, RecorderConfig, RecordingSession
from vla_tools.bags.stop_drain import DRAINING, StopDrain
from vla_tools.bags.ros_types import message_class
from vla_tools.bags.topics import CLOCK, parse_extra_topics, select_topics, stack_topics
from vla_tools.bags.writer import BagWriter, WriterConfig


STOP_CHECK_PERIOD_S = 0.05  # how often a stop request and the drain's state are looked at


class RecorderNode(StackNode):
    def __init__(self):
        super().__init__("vla_recorder")
        self.cfg = declare_config(self, RecorderConfig)
        c = self.cfg
        specs = stack_topics(self.robot, self.topics, include_clock=c.record_clock)
        specs = select_topics(specs, c.topics, c.exclude_topics) + parse_extra_topics(c.extra_topics)
        if not c.record_clock:
            specs = [s for s in specs if s.name != CLOCK.name]
        if not specs:
            raise ValueError("recorder: topic selection is empty")
        out = c.output_dir or time.strftime(
            f"bags/{self.robot_name}_{self.mode}_%Y%m%d_%H%M%S", time.gmtime())
        writer = BagWriter(out, WriterConfig(
            split_max_bytes=int(c.split_max_size_mb * 1e6),
            split_max_duration_s=c.split_max_duration_s, compression=c.compression))
        writer.set_custom_data("robot", self.robot_name)
        writer.set_custom_data("mode", self.mode)
        self.session = RecordingSession(writer, specs)
        self._classes = {s.name: message_class(s.msgtype) for s in specs}
        self._specs = {s.name: s for s in specs}
        self._best_effort: set[str] = set()
        self._subs = {}
        self._group = ReentrantCallbackGroup()
        self._drain = StopDrain(c.drain_quiet_s, c.drain_timeout_s)
        for s in specs:
            self._subscribe(s.name, reliable=True)
        self.session.start()
        self._stop_requests = 0  # set from a signal handler / timer thread, read by the executor
        timers = MutuallyExclusiveCallbackGroup()
        self.create_timer(c.heartbeat_period_s, self._heartbeat, callback_group=timers)
        self.create_timer(1.0, self._check_graph, callback_group=timers)
        # Steady clock, not the node's: under use_sim_time a stopped sim stops /clock, and a
        # signal's Python handler only runs when the executor wakes up
        self._stop_timer = self.create_timer(STOP_CHECK_PERIOD_S, self._check_stop,
                                             callback_group=timers,
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._last_report = time.monotonic()
        self._done = threading.Event()
        if c.max_duration_s > 0:
            t = threading.Timer(c.max_duration_s, self._finish)
            t.daemon = True  # a recorder stopped earlier by a signal must not wait for it
            t.start()
        self.get_logger().info(f"recording {len(specs)} topics to {writer.path}")

    def _subscribe(self, topic: str, reliable: bool) -> None:
        spec = self._specs[topic]
        qos = QoSProfile(  # KEEP_ALL: the reader never overwrites untaken samples when we lag
            history=HistoryPolicy.KEEP_ALL if self.cfg.keep_all else HistoryPolicy.KEEP_LAST,
            depth=self.cfg.qos_depth,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if spec.latched
            else DurabilityPolicy.VOLATILE)
        clock, on_msg, drain = self.get_clock(), self.session.on_message, self._drain

        def cb(data: bytes, info, topic=topic) -> None:
            on_msg(topic, clock.now().nanoseconds, data)
            if drain.started:
                drain.on_delivery(time.monotonic(), info["source_timestamp"])

        events = SubscriptionEventCallbacks(
            message_lost=lambda info, topic=topic: self.session.on_lost(topic,
                                                                        info.total_count_change))
        try:
            sub = self.create_subscription(self._classes[topic], topic, cb, qos, raw=True,
                                           callback_group=self._group, event_callbacks=events)
        except Exception:  # noqa: BLE001 - middleware without message-lost events
            sub = self.create_subscription(self._classes[topic], topic, cb, qos, raw=True,
                                           callback_group=self._group)
        if topic in self._subs:
            self.destroy_subscription(self._subs[topic])
        self._subs[topic] = sub

    def _check_graph(self) -> None:
        """A reliable subscription never matches a best-effort publisher: switch, and say so."""
        for topic in list(self._subs):
            if topic in self._best_effort:
                continue
            infos = self.get_publishers_info_by_topic(topic)
            if any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos):
                self.get_logger().warning(f"{topic} has a best-effort publisher: recording it "
                                          "best effort (losses on the wire cannot be counted)")
                self._best_effort.add(topic)
                self._subscribe(topic, reliable=False)

    def _heartbeat(self) -> None:
        r = self.session.report()
        level = OK if r.dropped == 0 and not r.error else WARN
        self.publish_diagnostics(level, r.error or "recording",
                                 {"received": r.received, "written": r.written,
                                  "dropped": r.dropped, "backlog": self.session.backlog})
        if time.monotonic() - self._last_report > self.cfg.report_period_s:
            self._last_report = time.monotonic()
            self.get_logger().info(f"received {r.received} written {r.written} "
                                   f"backlog {self.session.backlog}")

    def _finish(self) -> None:
        self.get_logger().info("max_duration_s reached, stopping")
        self.request_stop()

    def request_stop(self) -> None:
        """SIGINT/SIGTERM (from ``run_node``) or max_duration_s: drain, then stop; a second
        request ends the drain at once. Only counts (signal handler context); the executor's
        ``_check_stop`` acts on it."""
        self._stop_requests += 1

    def _check_stop(self) -> None:
        d = self._drain
        if not self._stop_requests:
            return
        if not d.started:
            d.start(time.monotonic(), time.time_ns())
            self.get_logger().info(f"stop requested: taking what the subscriptions still hold "
                                   f"(writer queue {self.session.backlog})")
        if self._stop_requests > 1:
            d.force()
        state = d.status(time.monotonic())
        if state == DRAINING:
            return
        self._stop_timer.cancel()
        if d.cut_short:  # count (not write) what is still queued: a reported loss
            for topic, sub in self._subs.items():
                self.session.on_abandoned(topic, self._take_backlog(sub))
        self.session.drain = DrainResult(d.drained, d.cut_short, state, d.duration_s)
        self.get_logger().info(f"stop drain {state} after {d.duration_s:.2f} s: "
                               f"{d.drained} received after the stop request")
        rclpy.try_shutdown(context=self.context)

    def _take_backlog(self, sub) -> int:
        """Samples sent before the stop request still queued in ``sub`` (taken, not written).
        Ends at the first one sent after it: a running stack would keep the loop going."""
        n = 0
        with sub.handle:
            while (r := sub.handle.take_message(sub.msg_type, True)) is not None:
                if not self._drain.sent_before_stop(r[1]["source_timestamp"]):
                    break
                n += 1
        return n

    def destroy_node(self):
        first = not self.session.closed
        report = self.session.stop()
        if first:
            print(report.text(), flush=True)
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(RecorderNode, args)


if __name__ == "__main__":
    sys.exit(main())
