"""The stack's QoS profiles, stated once (ROS adapter).

- SENSOR: best effort, keep last 5: images and joint states to consumers that want the newest
  sample (a best-effort subscriber also matches ros2_control's reliable publishers).
- SENSOR_PUB / ``sensor_pub(rate_hz)``: reliable, keep last ``SENSOR_PUB_HISTORY_S`` of the
  stream: how we publish sensor streams, like joint_state_broadcaster, so reliable subscribers
  (recorders) match too, and a recorder that lagged still gets every sample (below).
- COMMAND: reliable, keep last 1: commands, only the newest matters and none may be lost in between.
- STREAM: reliable, keep last 50: latents, chunks, status, diagnostics (recorded, counted).
- ``stream_pub(rate_hz)``: STREAM holding at least ``SENSOR_PUB_HISTORY_S`` of a fast stream:
  the streamed actions (200 Hz on Franka: keep-last 50 is only 0.25 s of them).
- LATCHED: reliable, transient local, keep last 1: instruction and task state for late joiners.
"""
from __future__ import annotations

import math

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)

SENSOR = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                    reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)

# Why a sensor publisher keeps seconds of history: a reliable reader that falls behind (a
# recorder starved of CPU on a loaded machine: its DDS queues overflow) gets lost samples
# repaired only from the writer's history, and at worst learns of the gap from the writer's
# periodic heartbeat (Fast DDS: every 3 s). Keep-last 5 held 10 ms of 500 Hz joint states:
# ros_synthetic_stack + the recorder, recorder SIGSTOPped 4 x 0.4 s, lost 436 of ~4000 joint
# states (a CI bag lacked the very states the action chunks were conditioned on); with 4 s of
# history none. Cost: only unacknowledged samples stay in the writer (publisher RSS 77 MB either
# way with a reader that keeps up); a reader that hangs for good pins a full history: 4 s of 500 Hz
# joint states ~0.8 MB, of a 10 Hz 128x128 rgb8 camera 40 x 49 KB ~2 MB. Best-effort
# subscribers (controller, expert, safety) never wait for repairs, so their latency is unchanged.
SENSOR_PUB_HISTORY_S = 4.0
SENSOR_PUB_RATE_HZ = 500.0  # joint states: one per physics step of the default 2 ms


STREAM_DEPTH = 50


def _reliable_history(rate_hz: float, min_depth: int) -> QoSProfile:
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be finite and > 0, got {rate_hz}")
    depth = max(min_depth, math.ceil(rate_hz * SENSOR_PUB_HISTORY_S))
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def sensor_pub(rate_hz: float = SENSOR_PUB_RATE_HZ) -> QoSProfile:
    """Reliable keep-last holding ``SENSOR_PUB_HISTORY_S`` of a stream published at ``rate_hz``
    (at least 5 samples)."""
    return _reliable_history(rate_hz, 5)


# The same lag, on the streamed actions: a CI run's recorder reported 1 of 1169 /vla/action
# samples lost upstream (writer keep-last 50 = 0.25 s at 200 Hz) and the bag missed it. 4 s of
# 200 Hz ActionStep messages is 800 small samples; the controller and safety readers keep up
# and never see the difference.
def stream_pub(rate_hz: float) -> QoSProfile:
    """STREAM (reliable, volatile) holding ``SENSOR_PUB_HISTORY_S`` of a stream published at
    ``rate_hz``, never fewer than STREAM's 50 samples."""
    return _reliable_history(rate_hz, STREAM_DEPTH)


SENSOR_PUB = sensor_pub()
COMMAND = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
STREAM = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=STREAM_DEPTH,
                    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
