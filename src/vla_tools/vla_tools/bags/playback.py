"""Playback timing (ROS-free): maps bag log time to wall time at a rate factor, so the player
publishes each message at its original relative time and drives /clock with the bag's time."""
from __future__ import annotations

from dataclasses import dataclass


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

    def __post_init__(self):
        if not self.bag:
            raise ValueError("player: parameter 'bag' (bag directory or .mcap file) is required")
        if not (self.rate > 0 and self.rate < 1e6):
            raise ValueError(f"player: rate must be > 0, got {self.rate}")
        if not self.clock_rate_hz > 0:
            raise ValueError("player: clock_rate_hz must be > 0")
        if self.start_delay_s < 0:
            raise ValueError("player: start_delay_s must be >= 0")


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
