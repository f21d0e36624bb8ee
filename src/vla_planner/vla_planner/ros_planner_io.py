"""System 2's ROS inputs and output message (ROS adapter), shared by the planner node and the
action expert node's inline planner (the synchronous baseline, ``inline_planner``).

``PlannerInputs`` subscribes a ``PlannerCore`` to the robot's camera images (SENSOR QoS, rgb8
decoded; the core matches stamps), optionally to the joint states (models with proprio), and to
the instruction topic (LATCHED); ``latent_msg`` builds the ``vla_interfaces/Latent`` the planner
publishes for a cycle's result.
"""
from __future__ import annotations

from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from vla_interfaces.msg import Latent

from vla_common.config import ConfigError
from vla_common.ros_qos import LATCHED, SENSOR
from vla_common.ros_time import s_to_stamp, stamp_to_s
from vla_planner.image_utils import ImageError, decode_image
from vla_planner.planner_core import CycleResult, PlannerCore


def check_camera_topics(node) -> None:
    """Raises ConfigError when one of the robot's cameras has no topic in the node's mode."""
    robot = node.robot
    missing = [c for c in robot.cameras if c not in robot.interfaces.cameras]
    if missing:
        raise ConfigError(f"robot '{node.robot_name}' mode '{node.mode}': no camera topic for "
                          f"{missing}")


class PlannerInputs:
    """Feeds ``core`` from the node's subscriptions (created here, in ``callback_group``).

    Args:
        node: a ``StackNode`` (its ``robot``, ``robot_name``, ``mode``, ``topics``).
        core: the planner core to feed.
        images: subscribe to every camera of the robot (``<prefix>/image_raw``).
        joint_states: subscribe to the robot's joint states (for a model with proprio).
    Raises:
        ConfigError: ``images`` and a robot camera has no topic in this mode.
    """

    def __init__(self, node, core: PlannerCore, callback_group, images: bool = True,
                 joint_states: bool = False):
        self.node, self.core = node, core
        self.bad_images = 0
        robot = node.robot
        if images:
            check_camera_topics(node)
            for cam in robot.cameras:
                topic = robot.interfaces.cameras[cam].rstrip("/") + "/image_raw"
                node.create_subscription(Image, topic, lambda m, c=cam: self.on_image(c, m),
                                         SENSOR, callback_group=callback_group)
        if joint_states:
            node.create_subscription(JointState, robot.interfaces.joint_states,
                                     self.on_joint_state, SENSOR, callback_group=callback_group)
        node.create_subscription(String, node.topics.instruction,
                                 lambda m: self.set_instruction(m.data), LATCHED,
                                 callback_group=callback_group)

    def on_image(self, camera: str, msg: Image) -> None:
        try:
            img = decode_image(msg.data, msg.height, msg.width, msg.encoding, msg.step)
            self.core.add_image(camera, stamp_to_s(msg.header.stamp), img)
        except (ImageError, ValueError, KeyError) as e:
            self.bad_images += 1
            self.node.get_logger().warning(f"dropped image from camera '{camera}': {e}",
                                           throttle_duration_sec=2.0)

    def on_joint_state(self, msg: JointState) -> None:
        try:
            self.core.set_joint_state(list(msg.name), list(msg.position))
        except ValueError as e:
            self.node.get_logger().warning(f"ignored joint state: {e}", throttle_duration_sec=2.0)

    def set_instruction(self, text: str) -> tuple[bool, str, int]:
        """Set the core's instruction and log the outcome; returns ``core.set_instruction``'s."""
        ok, message, iid = self.core.set_instruction(text)
        log = self.node.get_logger()
        # rclpy forbids two severities from one call site: two calls
        if ok:
            log.info(f"instruction {message} (id {iid}): {text[:80]!r}")
        else:
            log.warning(f"instruction {message} (id {iid}): {text[:80]!r}")
        return ok, message, iid


def latent_msg(res: CycleResult, model_id: str) -> Latent:
    """The Latent message of a cycle that made a latent, stamped with its newest image stamp."""
    msg = Latent(instruction=res.instruction, instruction_id=res.instruction_id,
                 latent=res.latent.tolist(), model_id=model_id,
                 compute_time_s=float(res.compute_time_s))
    msg.header.stamp = s_to_stamp(res.stamp_s)
    msg.header.frame_id = ""
    return msg
