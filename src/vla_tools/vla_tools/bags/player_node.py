"""vla_player: publishes a bag's topics with their original relative timing (ROS adapter).

Serialized bytes are published as recorded (no deserialization); /clock carries the bag time so
nodes under use_sim_time (planner, expert, controller, safety) run against recorded observations.
Run: ``vla-play --ros-args -p bag:=/tmp/run1 -p rate:=1.0 -p loop:=false
-p remap:="['/joint_states:=/replay/joint_states']"``.
"""
from __future__ import annotations

import sys
import threading
import time

import rclpy
from builtin_interfaces.msg import Time
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from vla_common.ros_node_base import ERROR, OK, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_tools.bags.errors import BagError
from vla_tools.bags.playback import PlaybackTimeline, PlayerConfig, in_log_time_order
from vla_tools.bags.reader import BagReader
from vla_tools.bags.ros_types import message_class
from vla_tools.bags.topics import parse_remaps
from vla_tools.bags.topics import TopicSpec, select_topics

_STATUS = {"rc": 0}


class PlayerNode(StackNode):
    def __init__(self):
        super().__init__("vla_player")
        self.cfg = c = declare_config(self, PlayerConfig)
        self.reader = BagReader(c.bag)
        for w in self.reader.warnings:
            self.get_logger().warning(w)
        types = self.reader.topic_types()
        specs = select_topics([TopicSpec(t, v[0]) for t, v in types.items()],
                              c.topics, c.exclude_topics)
        if c.publish_clock:
            specs = [s for s in specs if s.name != "/clock"]
        if not specs:
            raise ValueError(f"player: no topics of {c.bag} selected (bag has {sorted(types)})")
        remap = parse_remaps(c.remap)
        self.pubs = {}
        for s in specs:
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL
                             if "transient_local" in types[s.name][1] else DurabilityPolicy.VOLATILE)
            self.pubs[s.name] = self.create_publisher(message_class(s.msgtype),
                                                      remap.get(s.name, s.name), qos)
        self.clock_pub = self.create_publisher(
            Clock, "/clock", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.published = 0
        self.error = ""
        self.done = threading.Event()
        self._stop = threading.Event()
        self._last_clock_ns = 0
        self.create_timer(c.heartbeat_period_s, self._heartbeat)
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()
        self.get_logger().info(f"playing {len(specs)} topics of {c.bag} at rate {c.rate}")

    def _heartbeat(self) -> None:
        self.publish_diagnostics(ERROR if self.error else OK, self.error or "playing",
                                 {"published": self.published})

    def _publish_clock(self, t_ns: int) -> None:
        # exact integer ns (float seconds would round the stamps); never backwards within a pass
        t_ns = max(0, int(t_ns), self._last_clock_ns)
        self._last_clock_ns = t_ns
        self.clock_pub.publish(Clock(clock=Time(sec=t_ns // 1_000_000_000,
                                                nanosec=t_ns % 1_000_000_000)))

    def _play(self) -> None:
        c = self.cfg
        if c.wait_for_subscribers > 0:
            end = time.monotonic() + c.wait_timeout_s
            while time.monotonic() < end and not self._stop.is_set() and any(
                    p.get_subscription_count() < c.wait_for_subscribers for p in self.pubs.values()):
                time.sleep(0.05)
            short = [t for t, p in self.pubs.items()
                     if p.get_subscription_count() < c.wait_for_subscribers]
            if short:
                self.get_logger().warning(f"playing although {short} have fewer than "
                                          f"{c.wait_for_subscribers} subscribers")
        time.sleep(c.start_delay_s)
        try:
            while not self._stop.is_set():
                self._play_once()
                if not c.loop or self._stop.is_set():
                    break
        except BagError as e:
            self.error = str(e)
            self.get_logger().error(f"playback stopped: {e}")
            _STATUS["rc"] = 2
        except Exception as e:  # noqa: BLE001 - say what failed, then stop the node
            self.error = f"{type(e).__name__}: {e}"
            self.get_logger().error(f"playback failed: {self.error}")
            _STATUS["rc"] = 1
        self.done.set()
        self.get_logger().info(f"playback finished: {self.published} messages published")
        if c.exit_when_done and not self._stop.is_set():
            for p in self.pubs.values():  # reliable subscribers get everything before we exit
                try:
                    p.wait_for_all_acked(Duration(seconds=5.0))
                except Exception:  # noqa: BLE001 - best effort on shutdown
                    pass
            rclpy.try_shutdown(context=self.context)

    def _play_once(self) -> None:
        c = self.cfg
        timeline = None
        clock_period_s = 1.0 / c.clock_rate_hz
        next_clock = 0.0
        self._last_clock_ns = 0  # a loop restarts the bag time (like ros2 bag play --loop)
        window_ns = int(c.reorder_window_s * 1e9)
        for m in in_log_time_order(self.reader.messages(self.pubs.keys()), window_ns):
            if timeline is None:
                timeline = PlaybackTimeline(m.log_time_ns, c.rate, time.monotonic())
                next_clock = timeline.wall_start_s
            due = timeline.due_wall_s(m.log_time_ns)
            while True:
                if self._stop.is_set():
                    return
                now = time.monotonic()
                if c.publish_clock and now >= next_clock:
                    self._publish_clock(min(timeline.bag_time_ns(now), m.log_time_ns))
                    next_clock = max(next_clock + clock_period_s, now)
                if now >= due:
                    break
                time.sleep(max(0.0, min(due, next_clock if c.publish_clock else due) - now))
            if c.publish_clock:
                self._publish_clock(m.log_time_ns)
            self.pubs[m.topic].publish(m.data)
            self.published += 1

    def destroy_node(self):
        self._stop.set()
        return super().destroy_node()


def main(args=None) -> int:
    rc = run_node(PlayerNode, args)
    return rc or _STATUS["rc"]


if __name__ == "__main__":
    sys.exit(main())
