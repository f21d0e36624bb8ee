"""Common start-up of every stack node (ROS adapter): robot/mode/config params, robot config,
topics, a diagnostics heartbeat, and a ``main`` that spins a single-threaded executor and exits
cleanly on Ctrl-C."""
from __future__ import annotations

import faulthandler
import signal
import sys
import traceback
from typing import Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import uninstall_signal_handlers

from vla_common.config import ConfigError, load_robot_config, load_topics
from vla_common.ros_qos import STREAM


class StackNode(Node):
    """Base of the stack's nodes: reads ``robot``, ``mode``, ``config_dir``; loads config.

    Subclasses call ``self.publish_diagnostics(level, message, values)`` from a timer; the
    safety supervisor uses these messages as each node's heartbeat.
    """

    def __init__(self, default_name: str, **kwargs):
        super().__init__(default_name, **kwargs)
        self.robot_name = self.declare_parameter("robot", "franka").value
        self.mode = self.declare_parameter("mode", "sim").value
        self.config_dir = self.declare_parameter("config_dir", "").value or None
        self.robot = load_robot_config(self.robot_name, self.mode, self.config_dir)
        self.topics = load_topics(self.config_dir)
        self._diag_pub = self.create_publisher(DiagnosticArray, self.topics.diagnostics, STREAM)

    def publish_diagnostics(self, level: int, message: str, values: dict[str, object]) -> None:
        st = DiagnosticStatus(level=bytes([level]), name=self.get_name(), message=message,
                              hardware_id=self.robot_name,
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        arr = DiagnosticArray(status=[st])
        arr.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(arr)


OK, WARN, ERROR, STALE = 0, 1, 2, 3  # diagnostic_msgs/DiagnosticStatus levels

# A node still alive this long after its shutdown began prints every thread's stack to stderr
# (faulthandler's C watchdog: it needs no GIL, so it also reports a hang in interpreter
# finalization or in rmw teardown). Launch and the tests escalate to SIGTERM/SIGKILL after
# 10 s; the stacks say where an intermittent shutdown hang sat.
SHUTDOWN_STACK_DUMP_AFTER_S = 5.0


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Create the node, spin it on a SingleThreadedExecutor, shut down cleanly.

    Every node's callbacks are short; heavy work (inference, collision checks, physics) runs on
    the node's own threads (``vla_common.worker.TriggeredWorker``). rclpy's
    MultiThreadedExecutor is not used: while a mutually exclusive group is busy it re-polls its
    wait set in a loop, which took a full core and starved the controller's 250 Hz tick to 5 Hz
    and the simulator to 0.26x real time here (ros2/rclpy#1452).

    A configuration error is printed as one clear line and gives exit code 2; anything else
    unexpected prints the traceback and gives 1. Ctrl-C/SIGTERM give 0.

    A node with a ``request_stop()`` method gets SIGINT/SIGTERM (once it is built) as calls to
    it instead of rclpy's immediate context shutdown, and shuts its context down itself when it
    is done: the recorder keeps taking what its subscriptions still hold (rclpy's handler would
    end the executor at once, and everything not yet taken would be lost). Python runs the
    handler only when the executor wakes up, so such a node keeps a steady-clock timer (a sim
    time timer stops with /clock).
    """
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    rc = 0
    own_stop_handlers = False
    try:
        node = factory()
        ex = SingleThreadedExecutor()
        ex.add_node(node)
        request_stop = getattr(node, "request_stop", None)
        if callable(request_stop):
            uninstall_signal_handlers()
            own_stop_handlers = True
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda _sig, _frame: request_stop())
        ex.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        rc = 2
    except Exception:  # noqa: BLE001 - last resort: say what happened, exit non-zero
        if not rclpy.ok():
            # Ctrl-C/SIGTERM while the node was still starting (e.g. loading a model): the
            # context is already shut down, so whatever failed is a consequence, not a fault.
            print("shutdown requested during start-up", file=sys.stderr, flush=True)
        else:
            traceback.print_exc()
            rc = 1
    finally:
        if own_stop_handlers:  # a signal during the teardown below stops the process at once
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        faulthandler.dump_traceback_later(SHUTDOWN_STACK_DUMP_AFTER_S, exit=False)
        if node is not None:
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001
                pass
        if rclpy.ok():
            rclpy.try_shutdown()
    return rc
