"""Playback timing (ROS-free): maps bag log time to wall time at a rate factor, so the player
publishes each message at its original relative time and drives /clock with the bag's time."""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol


class _Timed(Protocol):
    log_time_ns: int


@dataclass(frozen=True)
class PlayerConfig:
    """Player node parameters.

    bag: bag directory or .mcap file. rate: playback speed factor (2.0 = twice as fast).
    loop: start again at the end (/clock jumps back, like ros2 bag play --loop).
    topics / exclude_topics: globs selecting topics. remap: '/old:=/new' entries.
    publish_clock: publish rosgraph_msgs/Clock with the bag time (for use_sim_time nodes);
    a recorded /clock topic is then not replayed. clock_rate_hz: /clock between messages.
    start_delay_s: wait after creating publishers (and after wait_for_subscribers) so the
    subscribers also match us (DDS discovery is not symmetric).
    exit_when_done: shut the node down after the last message (not with loop).
    """
    bag: str = ""
    rate: float = 1.0
    loop: bool = False
    topics: tuple[str, ...] = ()
    exclude_topics: tuple[str, ...] = ()
    remap: tuple[str, ...] = ()
    publish_clock: bool = True
    clock_rate_hz: float = 100.0
    start_delay_s: float = 1.0
    wait_for_subscribers: int = 0     # wait until every topic has this many subscribers...
    wait_timeout_s: float = 30.0      # ...for at most this long (then play anyway, warn)
    exit_when_done: bool = True
    heartbeat_period_s: float = 0.5
    reorder_window_s: float = 0.5     # file order -> log-time order within this window

    def __post_init__(self):
        if not self.bag:
            raise ValueError("player: parameter 'bag' (bag directory or .mcap file) is required")
        if not (self.rate > 0 and self.rate < 1e6):
            raise ValueError(f"player: rate must be > 0, got {self.rate}")
        if not self.clock_rate_hz > 0:
            raise ValueError("player: clock_rate_hz must be > 0")
        if self.start_delay_s < 0:
            raise ValueError("player: start_delay_s must be >= 0")
        if not (self.reorder_window_s >= 0 and self.reorder_window_s < 3600):
            raise ValueError("player: reorder_window_s must be in [0, 3600)")


def in_log_time_order(messages: Iterable[_Timed], window_ns: int) -> Iterator[_Timed]:
    """Yield ``messages`` (in file order) sorted by ``log_time_ns``, streaming.

    A recorder that receives on several threads writes messages slightly out of log-time order;
    a player must not send /clock backwards. Messages are held until a message logged
    ``window_ns`` later has been read. Ties keep file order.

    Args:
        messages: objects with an integer ``log_time_ns``, in file order.
        window_ns: how far (ns) a message may appear after later-logged ones and still be
            put back in order (>= 0). A message later than that is yielded at once, after
            messages logged after it: the caller must tolerate it (it is never dropped).
    Returns:
        An iterator over the same objects.
    """
    if window_ns < 0:
        raise ValueError(f"window_ns must be >= 0, got {window_ns}")
    heap: list[tuple[int, int, _Timed]] = []
    newest = None
    for seq, m in enumerate(messages):
        t = int(m.log_time_ns)
        newest = t if newest is None else max(newest, t)
        heapq.heappush(heap, (t, seq, m))
        while heap and heap[0][0] + window_ns <= newest:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


class PlaybackTimeline:
    """Bag time <-> wall time for one pass through the bag.

    Args:
        bag_start_ns: log time of the first message (plays at ``wall_start_s``).
        rate: speed factor (> 0).
        wall_start_s: wall (monotonic) time at which the first message is due.
    Raises:
        ValueError: rate not positive and finite.
    """

    def __init__(self, bag_start_ns: int, rate: float, wall_start_s: float):
        if not (rate > 0 and rate < float("inf")):
            raise ValueError(f"rate must be positive and finite, got {rate}")
        self.bag_start_ns = int(bag_start_ns)
        self.rate = float(rate)
        self.wall_start_s = float(wall_start_s)

    def due_wall_s(self, log_time_ns: int) -> float:
        """Wall time at which a message logged at ``log_time_ns`` is published."""
        return self.wall_start_s + (log_time_ns - self.bag_start_ns) * 1e-9 / self.rate

    def bag_time_ns(self, wall_now_s: float) -> int:
        """Bag time corresponding to ``wall_now_s`` (never before the bag start)."""
        return self.bag_start_ns + max(0, int(round((wall_now_s - self.wall_start_s)
                                                    * self.rate * 1e9)))
