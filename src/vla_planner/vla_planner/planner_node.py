"""vla_planner node (System 2, ROS adapter): newest stamp-matched camera images + instruction ->
vla_interfaces/Latent at ``rate_hz``, stamped with the newest image stamp used.

Inference runs in its own callback group so image/instruction callbacks keep updating; the
diagnostics heartbeat has a third group.
"""
from __future__ import annotations

import sys
from pathlib import Path

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from vla_interfaces.msg import Latent
from vla_interfaces.srv import SetInstruction

from vla_common.config import ConfigError
from vla_common.ros_node_base import ERROR, OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_common.ros_qos import LATCHED, SENSOR, STREAM
from vla_common.ros_time import now_s, s_to_stamp, stamp_to_s
from vla_common.worker import TriggeredWorker
from vla_planner.backbone import load_backbone
from vla_planner.image_utils import ImageError, decode_image
from vla_planner.planner_core import PlannerCore, PlannerNodeConfig, default_checkpoint_dir


class PlannerNode(StackNode):
    def __init__(self):
        super().__init__("vla_planner")
        self.cfg = declare_config(self, PlannerNodeConfig)
        import torch  # noqa: PLC0415 - after params, so a bad config fails fast
        torch.set_num_threads(self.cfg.torch_threads)
        ckpt = (Path(self.cfg.checkpoint_dir) if self.cfg.checkpoint_dir
                else default_checkpoint_dir(self.robot_name, self.config_dir))
        missing = [c for c in self.robot.cameras if c not in self.robot.interfaces.cameras]
        if missing:
            raise ConfigError(f"robot '{self.robot_name}' mode '{self.mode}': no camera topic for {missing}")
        if not ckpt.exists() and self.cfg.allow_random_init:
            self.get_logger().warning(f"planner checkpoint {ckpt} not found: RANDOM-INIT weights "
                                   f"(seed {self.cfg.seed}); latents carry no learned meaning")
        backbone = load_backbone(ckpt, self.robot.cameras, latent_dim=self.cfg.latent_dim,
                                 robot=self.robot_name, device=self.cfg.device,
                                 allow_random_init=self.cfg.allow_random_init, seed=self.cfg.seed)
        self.core = PlannerCore(backbone, self.cfg, self.robot.command_names)
        self.bad_images = 0
        self._last_logged_reason = ""

        io_group = MutuallyExclusiveCallbackGroup()
        infer_group = MutuallyExclusiveCallbackGroup()
        diag_group = MutuallyExclusiveCallbackGroup()
        for cam in self.robot.cameras:
            topic = self.robot.interfaces.cameras[cam].rstrip("/") + "/image_raw"
            self.create_subscription(Image, topic, lambda m, c=cam: self._on_image(c, m), SENSOR,
                                     callback_group=io_group)
        if self.core.needs_proprio:
            self.create_subscription(JointState, self.robot.interfaces.joint_states,
                                     self._on_joint_state, SENSOR, callback_group=io_group)
        self.create_subscription(String, self.topics.instruction, self._on_instruction, LATCHED,
                                 callback_group=io_group)
        self.create_service(SetInstruction, self.topics.set_instruction_srv, self._on_set_instruction,
                            callback_group=io_group)
        self.pub = self.create_publisher(Latent, self.topics.latent, STREAM)
        # inference runs on its own thread; the timer only triggers it (never blocks the executor)
        self._worker = TriggeredWorker(self._cycle, "planner_inference", self._on_cycle_error)
        self.create_timer(self.cfg.period_s, self._worker.trigger, callback_group=infer_group)
        self.create_timer(self.cfg.heartbeat_period_s, self._heartbeat, callback_group=diag_group)
        self.get_logger().info(f"planner up: model {backbone.model_id}, cameras "
                               f"{list(backbone.cameras)}, latent_dim {backbone.latent_dim}, "
                               f"{self.cfg.rate_hz} Hz")

    def _on_image(self, camera: str, msg: Image) -> None:
        try:
            img = decode_image(msg.data, msg.height, msg.width, msg.encoding, msg.step)
            self.core.add_image(camera, stamp_to_s(msg.header.stamp), img)
        except (ImageError, ValueError, KeyError) as e:
            self.bad_images += 1
            self.get_logger().warning(f"dropped image from camera '{camera}': {e}",
                                   throttle_duration_sec=2.0)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.core.set_joint_state(list(msg.name), list(msg.position))
        except ValueError as e:
            self.get_logger().warning(f"ignored joint state: {e}", throttle_duration_sec=2.0)

    def _set(self, text: str) -> tuple[bool, str, int]:
        ok, message, iid = self.core.set_instruction(text)
        # rclpy forbids two severities from one call site: two calls
        if ok:
            self.get_logger().info(f"instruction {message} (id {iid}): {text[:80]!r}")
        else:
            self.get_logger().warning(f"instruction {message} (id {iid}): {text[:80]!r}")
        return ok, message, iid

    def _on_instruction(self, msg: String) -> None:
        self._set(msg.data)

    def _on_set_instruction(self, req: SetInstruction.Request, resp: SetInstruction.Response):
        resp.success, resp.message, resp.instruction_id = self._set(req.instruction)
        return resp

    def _cycle(self) -> None:
        res = self.core.step(now_s(self))
        if res.latent is None:
            kind = res.reason.split("(")[0]  # log once per kind of skip, not every cycle
            if kind != self._last_logged_reason:
                self.get_logger().info(f"skipping cycle: {res.reason}")
            self._last_logged_reason = kind
            return
        self._last_logged_reason = ""
        msg = Latent(instruction=res.instruction, instruction_id=res.instruction_id,
                     latent=res.latent.tolist(), model_id=self.core.backbone.model_id,
                     compute_time_s=float(res.compute_time_s))
        msg.header.stamp = s_to_stamp(res.stamp_s)
        msg.header.frame_id = ""
        self.pub.publish(msg)

    def _on_cycle_error(self, e: BaseException) -> None:
        self.get_logger().error(f"planner cycle failed: {type(e).__name__}: {e}",
                                throttle_duration_sec=2.0)

    def destroy_node(self):
        self._worker.stop()
        return super().destroy_node()

    def _heartbeat(self) -> None:
        st = self.core.stats()
        st["bad_images"] = self.bad_images
        st["overrun_cycles"] = self._worker.coalesced  # timer fired while inference still ran
        reason = st["last_reason"]
        level = OK if reason == "ok" else (ERROR if "rejected" in reason else WARN)
        self.publish_diagnostics(level, "publishing latents" if level == OK else str(reason), st)


def main(args=None) -> int:
    return run_node(PlannerNode, args)


if __name__ == "__main__":
    sys.exit(main())
