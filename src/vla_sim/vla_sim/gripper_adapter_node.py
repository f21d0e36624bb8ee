"""vla_gripper_adapter (ROS adapter): the gripper as a width for robot sides that speak fingers.

Between gz_ros2_control (or any ros2_control side whose joint_state_broadcaster reports the
finger joints and whose gripper controller takes one finger position) and the stack, which
speaks one ``gripper`` width DoF (``vla_sim.gripper_width``):

- ``joint_states_in`` (the robot side's /joint_states, remapped) -> ``joint_states_out`` (the
  stack's ``interfaces.<mode>.joint_states``) with a ``gripper`` entry = the width;
- ``width_commands_in`` (the stack's gripper command topic from ``interfaces.<mode>``) ->
  ``finger_commands_out`` (the finger forward controller), width x ``finger_per_width``.

Bad input (missing fingers, NaN, wrong length) is dropped with a throttled error and counted in
the diagnostics; nothing is forwarded partially.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from vla_common.ros_node_base import OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_common.ros_qos import COMMAND, SENSOR, SENSOR_PUB
from vla_sim.gripper_width import GripperWidthConfig, GripperWidthMap


@dataclass(frozen=True)
class GripperAdapterConfig:
    # joint_state_broadcaster with use_local_topics (config/franka_gazebo.yaml)
    joint_states_in: str = "/joint_state_broadcaster/joint_states"
    finger_commands_out: str = "/gripper_finger_controller/commands"
    finger_per_width: float = 0.5          # Franka Hand: each finger moves width / 2
    heartbeat_period_s: float = 0.5

    def __post_init__(self):
        if not (self.joint_states_in and self.finger_commands_out):
            raise ValueError("joint_states_in and finger_commands_out must be set")
        if self.heartbeat_period_s <= 0:
            raise ValueError("heartbeat_period_s must be > 0")


class GripperAdapterNode(StackNode):
    def __init__(self):
        super().__init__("vla_gripper_adapter")
        self.cfg = declare_config(self, GripperAdapterConfig)
        grippers = [a.gripper for a in self.robot.arms if a.gripper is not None]
        if len(grippers) != 1:
            raise ValueError(f"vla_gripper_adapter handles one gripper, robot "
                             f"'{self.robot.robot}' has {len(grippers)}")
        g = grippers[0]
        self.map = GripperWidthMap(GripperWidthConfig.from_gripper(g, self.cfg.finger_per_width))
        outs = [o for o in self.robot.interfaces.command_outputs if o.joints == (g.name,)]
        if len(outs) != 1:
            raise ValueError(f"interfaces.{self.mode}.command_outputs needs one output with "
                             f"joints [{g.name}]")
        width_in = outs[0].topic
        js_out = self.robot.interfaces.joint_states
        if js_out == self.cfg.joint_states_in or width_in == self.cfg.finger_commands_out:
            raise ValueError("the adapter's input and output topics must differ")
        self.rejected = {"joint_states": 0, "commands": 0}
        self.forwarded = {"joint_states": 0, "commands": 0}
        self._js_pub = self.create_publisher(JointState, js_out, SENSOR_PUB)
        self._cmd_pub = self.create_publisher(Float64MultiArray, self.cfg.finger_commands_out,
                                              COMMAND)
        self.create_subscription(JointState, self.cfg.joint_states_in, self._on_js, SENSOR)
        self.create_subscription(Float64MultiArray, width_in, self._on_cmd, COMMAND)
        self.create_timer(self.cfg.heartbeat_period_s, self._heartbeat)
        self.get_logger().info(f"gripper '{g.name}' as width: {self.cfg.joint_states_in} -> "
                               f"{js_out}, {width_in} -> {self.cfg.finger_commands_out} "
                               f"(x {self.cfg.finger_per_width:g})")

    def _on_js(self, msg: JointState) -> None:
        out, why = self.map.add_width(msg.name, msg.position, msg.velocity, msg.effort)
        if out is None:
            self.rejected["joint_states"] += 1
            self.get_logger().error(f"joint state not forwarded: {why}", throttle_duration_sec=2.0)
            return
        names, pos, vel, eff = out
        m = JointState(name=names, position=pos, velocity=vel, effort=eff)
        m.header = msg.header
        self._js_pub.publish(m)
        self.forwarded["joint_states"] += 1

    def _on_cmd(self, msg: Float64MultiArray) -> None:
        finger, why = self.map.finger_command(msg.data)
        if finger is None:
            self.rejected["commands"] += 1
            self.get_logger().error(f"gripper command rejected: {why}", throttle_duration_sec=2.0)
            return
        self._cmd_pub.publish(Float64MultiArray(data=finger))
        self.forwarded["commands"] += 1

    def _heartbeat(self) -> None:
        level = WARN if any(self.rejected.values()) else OK
        self.publish_diagnostics(level, "forwarding", {
            **{f"forwarded_{k}": v for k, v in self.forwarded.items()},
            **{f"rejected_{k}": v for k, v in self.rejected.items()}})


def main(args=None) -> int:
    return run_node(GripperAdapterNode, args)


if __name__ == "__main__":
    sys.exit(main())
