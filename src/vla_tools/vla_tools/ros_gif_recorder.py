"""Record one camera of the running stack into an animated GIF (ROS adapter).

For the demo: add ``GifRecorder(robot_cfg, "scene", context=ctx)`` to the demo's executor, and
call ``save(path)`` after the run. Frames are decoded with the planner's image decoder and kept
at most every ``min_period_s`` of sim time (GIF size stays small).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from vla_common.ros_qos import SENSOR
from vla_tools.gif_writer import write_gif


class GifRecorder(Node):
    def __init__(self, robot_cfg, camera: str = "scene", min_period_s: float = 0.1,
                 max_frames: int = 600, context=None):
        super().__init__("vla_gif_recorder", context=context,
                         parameter_overrides=[Parameter("use_sim_time", value=True)])
        if camera not in robot_cfg.interfaces.cameras:
            raise ValueError(f"robot has no camera '{camera}'; known: {sorted(robot_cfg.interfaces.cameras)}")
        self.frames: list[np.ndarray] = []
        self.min_period_s, self.max_frames = float(min_period_s), int(max_frames)
        self._last_s = -1e9
        self._lock = threading.Lock()
        self.create_subscription(Image, robot_cfg.interfaces.cameras[camera] + "/image_raw",
                                 self._on_image, SENSOR)

    def _on_image(self, msg: Image) -> None:
        from vla_planner.image_utils import ImageError, decode_image
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self._lock:
            if t - self._last_s < self.min_period_s - 1e-6 or len(self.frames) >= self.max_frames:
                return
        try:
            img = decode_image(msg.data, msg.height, msg.width, msg.encoding, msg.step)
        except ImageError as e:
            self.get_logger().warning(f"GIF: dropped a bad image: {e}", throttle_duration_sec=5.0)
            return
        with self._lock:
            self.frames.append(img)
            self._last_s = t

    def save(self, path: str | Path, fps: float = 10.0) -> Path | None:
        """Write the GIF (None when no frame arrived)."""
        with self._lock:
            frames = list(self.frames)
        return write_gif(frames, path, fps) if frames else None
