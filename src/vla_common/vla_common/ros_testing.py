"""Test helper (ROS adapter): a probe node of a test's own on a graph's private domain."""
from __future__ import annotations

import rclpy
from rclpy.executors import SingleThreadedExecutor


class ProbeNode:
    """A node in a fresh rclpy context on ``domain_id`` plus its executor, for a test to publish,
    subscribe and ``spin_once`` against node processes. ``close()`` tears both down."""

    def __init__(self, name: str, domain_id: int, **node_kwargs):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context, **node_kwargs)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
