"""Import ROS message classes by type name (ROS adapter)."""
from __future__ import annotations

import importlib


def message_class(msgtype: str):
    """'sensor_msgs/msg/JointState' -> the rclpy message class.

    Raises:
        ValueError: malformed name or the package/type is not installed.
    """
    parts = msgtype.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"message type '{msgtype}': expected 'pkg/msg/Type'")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError) as e:
        raise ValueError(f"message type '{msgtype}' is not installed: {e}") from e
