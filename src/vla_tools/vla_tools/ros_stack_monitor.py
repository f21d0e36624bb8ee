"""A node that watches every stage of the stack and fills a RunRecord (ROS adapter)."""
from __future__ import annotations

import json
import threading

import numpy as np
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from vla_interfaces.msg import ActionChunk, ActionStep, Latent, SafetyStatus
from vla_interfaces.srv import ResetTask, SetInstruction

from vla_common.config import RobotConfig, Topics
from vla_common.ros_qos import COMMAND, LATCHED, SENSOR, STREAM
from vla_tools.run_summary import RunRecord


class StackMonitor(Node):
    """Subscribes to every stage of the data path and records arrivals in sim time."""

    def __init__(self, robot: RobotConfig, topics: Topics, use_sim_time: bool = True, context=None):
        super().__init__("vla_stack_monitor", context=context,
                         parameter_overrides=[Parameter("use_sim_time", value=use_sim_time)])
        self.robot, self.topics = robot, topics
        self.record = RunRecord()
        self.lock = threading.Lock()
        names = list(robot.command_names)
        self._names = names
        self.create_subscription(JointState, robot.interfaces.joint_states, self._on_js, SENSOR)
        for prefix in robot.interfaces.cameras.values():
            self.create_subscription(Image, prefix + "/image_raw", self._stage_cb("camera"), SENSOR)
        self.create_subscription(Latent, topics.latent, self._on_latent, STREAM)
        self.create_subscription(ActionChunk, topics.action_chunk, self._on_chunk, STREAM)
        self.create_subscription(ActionStep, topics.action, self._stage_cb("action"), STREAM)
        self.create_subscription(JointState, topics.controller_command,
                                 self._stage_cb("controller_command"), COMMAND)
        for out in robot.interfaces.command_outputs:
            self.create_subscription(Float64MultiArray, out.topic, self._stage_cb("gated_command"), COMMAND)
        self.create_subscription(SafetyStatus, topics.safety_status, self._on_safety, STREAM)
        self.create_subscription(String, topics.sim_task, self._on_task, LATCHED)
        self.instruction_pub = self.create_publisher(String, topics.instruction, LATCHED)
        self.reset_client = self.create_client(ResetTask, topics.sim_reset_srv)
        self.instruction_client = self.create_client(SetInstruction, topics.set_instruction_srv)

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _tick(self, stage: str) -> None:
        with self.lock:
            self.record.stages[stage].rate.tick(self.now_s())

    def _stage_cb(self, stage: str):
        return lambda _msg: self._tick(stage)

    def _on_js(self, msg: JointState) -> None:
        self._tick("joint_states")
        pos = dict(zip(msg.name, msg.position))
        if all(n in pos for n in self._names):
            with self.lock:
                self.record.on_positions(np.array([pos[n] for n in self._names]))

    def _on_latent(self, msg: Latent) -> None:
        self._tick("latent")
        with self.lock:
            self.record.latent_compute_s.add(msg.compute_time_s)

    def _on_chunk(self, msg: ActionChunk) -> None:
        self._tick("action_chunk")
        with self.lock:
            self.record.chunk_inference_s.add(msg.inference_time_s)
            if msg.latent_stamp.sec or msg.latent_stamp.nanosec:
                self.record.chunks_conditioned_on_latent += 1

    def _on_safety(self, msg: SafetyStatus) -> None:
        with self.lock:
            faults = ",".join(f.code for f in msg.active_faults)
            self.record.on_safety_state(msg.state_name + (f"[{faults}]" if faults else ""))

    def _on_task(self, msg: String) -> None:
        try:
            task = json.loads(msg.data)
        except json.JSONDecodeError:
            task = {"raw": msg.data}
        with self.lock:
            self.record.task = task

    def set_instruction(self, text: str) -> None:
        self.instruction_pub.publish(String(data=text))

    def ask_planner(self, text: str):
        """Future of the planner's ``set_instruction`` answer: whether it will act on ``text``
        (and which trained instruction it understood), or why it refuses it."""
        return self.instruction_client.call_async(SetInstruction.Request(instruction=text))
