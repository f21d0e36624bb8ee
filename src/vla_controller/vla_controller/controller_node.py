"""vla_controller node (ROS adapter around ``vla_controller.controller.Controller``).

Subscribes ``topics.action`` (vla_interfaces/ActionStep, STREAM QoS) and the robot's joint states
(sensor_msgs/JointState, SENSOR QoS); publishes ``topics.controller_command``
(sensor_msgs/JointState, COMMAND QoS) every tick: name = RobotConfig.command_names, position =
joint targets + gripper widths, velocity = target velocities, effort = torques for effort-driven
DoFs (0 for position DoFs; empty when no DoF is effort-driven), header.stamp = now.
"""
from __future__ import annotations

import sys
import threading
import time

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import JointState

from vla_common.ros_node_base import ERROR, OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_common.ros_qos import COMMAND, SENSOR, STREAM
from vla_common.ros_time import now_s, stamp_to_s
from vla_common.timing import RateMeter, RollingStats
from vla_controller.command_validation import TargetRejected
from vla_controller.controller import Controller, ControllerConfig
from vla_controller.kinematics import load_kinematics
from vla_interfaces.msg import ActionStep


class ControllerNode(StackNode):
    def __init__(self, **kwargs):
        super().__init__("vla_controller", **kwargs)
        self.cfg = declare_config(self, ControllerConfig)
        self.core = Controller(self.robot, load_kinematics(self.robot), self.cfg)
        self._lock = threading.Lock()
        self._loop = RateMeter(2000)              # wall-clock tick timing (jitter)
        self._compute_us = RollingStats(2000)
        self._last_error = ""
        self._internal_errors = 0
        self._control_group = MutuallyExclusiveCallbackGroup()
        self._state_group = MutuallyExclusiveCallbackGroup()   # joint states never wait on
        self._io_group = MutuallyExclusiveCallbackGroup()      # actions/heartbeat, and vice versa
        self._pub = self.create_publisher(JointState, self.topics.controller_command, COMMAND)
        self.create_subscription(JointState, self.robot.interfaces.joint_states,
                                 self._on_joint_state, SENSOR, callback_group=self._state_group)
        self.create_subscription(ActionStep, self.topics.action, self._on_action, STREAM,
                                 callback_group=self._io_group)
        self.create_timer(self.core.period_s, self._tick, callback_group=self._control_group)
        self.create_timer(self.cfg.heartbeat_period_s, self._heartbeat,
                          callback_group=self._io_group)
        self.get_logger().info(
            f"controller: {self.robot.robot}/{self.mode} space={self.cfg.action_space} "
            f"law={self.core.law_name if self.core.any_effort else 'position'} "
            f"rate={self.core.rate_hz:.0f} Hz -> {self.topics.controller_command}")

    def _on_joint_state(self, msg: JointState) -> None:
        now = now_s(self)
        if now <= 0.0:
            return                     # use_sim_time before the first /clock: no time yet
        with self._lock:
            self.core.on_joint_state(msg.name, msg.position, msg.velocity, now)

    def _on_action(self, msg: ActionStep) -> None:
        now = now_s(self)
        if now <= 0.0:
            self.get_logger().warning("action before the first /clock ignored",
                                      throttle_duration_sec=5.0)
            return
        try:
            with self._lock:
                self.core.on_target(msg.names, msg.values, stamp_to_s(msg.header.stamp), now)
        except TargetRejected as e:
            self._last_error = f"{e.reason}: {e}"
            self.get_logger().warning(f"action rejected ({e.reason}): {e}",
                                   throttle_duration_sec=1.0)

    def _tick(self) -> None:
        t0 = time.perf_counter()
        self._loop.tick(time.monotonic())
        now = self.get_clock().now()
        if now.nanoseconds <= 0:
            return                     # use_sim_time before the first /clock: no time yet
        try:
            with self._lock:
                cmd = self.core.step(now.nanoseconds * 1e-9)
        except Exception as e:  # noqa: BLE001 - publish nothing (the gate's watchdog stops)
            self._internal_errors += 1
            self._last_error = f"internal: {e!r}"
            self.get_logger().error(f"controller step failed: {e!r}", throttle_duration_sec=1.0)
            return
        if cmd is None:
            return
        msg = JointState()
        msg.header.stamp = now.to_msg()
        msg.name = list(cmd.names)
        msg.position = cmd.position.tolist()
        msg.velocity = cmd.velocity.tolist()
        msg.effort = cmd.effort.tolist()
        self._pub.publish(msg)
        self._compute_us.add((time.perf_counter() - t0) * 1e6)

    def _heartbeat(self) -> None:
        with self._lock:
            d = self.core.diagnostics()
        p = self._loop.periods_s
        d.update(loop_rate_hz=f"{self._loop.rate_hz():.1f}",
                 period_p50_ms=f"{p.percentile(50) * 1e3:.3f}",
                 period_p99_ms=f"{p.percentile(99) * 1e3:.3f}",
                 compute_p99_us=f"{self._compute_us.percentile(99):.0f}",
                 internal_errors=self._internal_errors, last_error=self._last_error)
        mode = d["mode"]
        if self._internal_errors:
            level, text = ERROR, f"{mode}; internal errors: {self._internal_errors}"
        elif mode in ("waiting_for_state", "state_stale"):
            level, text = ERROR if mode == "state_stale" else WARN, f"no command: {mode}"
        elif d["rejected_total"] or d["rejected_no_state"]:
            level, text = WARN, f"{mode}; rejected targets: {d['rejected_total']}"
        else:
            level, text = OK, mode
        self.publish_diagnostics(level, text, d)


def main(args=None) -> int:
    return run_node(ControllerNode, args)


if __name__ == "__main__":
    sys.exit(main())
