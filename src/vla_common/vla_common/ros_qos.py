"""The stack's QoS profiles, stated once (ROS adapter).

- SENSOR: best effort, keep last 5: images and joint states to consumers that want the newest
  sample (a best-effort subscriber also matches ros2_control's reliable publishers).
- SENSOR_PUB: reliable, keep last 5: how we publish sensor streams, like joint_state_broadcaster,
  so reliable subscribers (recorders) match too.
- COMMAND: reliable, keep last 1: commands, only the newest matters and none may be lost in between.
- STREAM: reliable, keep last 50: latents, chunks, streamed actions, status (recorded, counted).
- LATCHED: reliable, transient local, keep last 1: instruction and task state for late joiners.
"""
from __future__ import annotations

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)

SENSOR = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                    reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
SENSOR_PUB = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
COMMAND = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
STREAM = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
