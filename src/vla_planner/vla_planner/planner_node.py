"""vla_planner node (System 2, ROS adapter): newest stamp-matched camera images + instruction ->
vla_interfaces/Latent at ``rate_hz``, stamped with the newest image stamp used.

Inference runs on its own thread (the timer only triggers it) so image/instruction callbacks
keep updating; the diagnostics heartbeat has its own group.

``passive`` (synchronous baseline: the action expert runs System 2 inline and publishes the
latents): only the instruction topic and the ``set_instruction`` service stay up; no camera
subscriptions, no inference, no latent publisher.
"""
from __future__ import annotations

import sys
from pathlib import Path

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from vla_interfaces.msg import Latent
from vla_interfaces.srv import SetInstruction

from vla_common.ros_node_base import ERROR, OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_common.ros_qos import STREAM
from vla_common.ros_time import now_s
from vla_common.worker import TriggeredWorker
from vla_planner.backbone import load_backbone
from vla_planner.planner_core import PlannerCore, PlannerNodeConfig, default_checkpoint_dir
from vla_planner.ros_planner_io import PlannerInputs, check_camera_topics, latent_msg


class PlannerNode(StackNode):
    def __init__(self):
        super().__init__("vla_planner")
        self.cfg = declare_config(self, PlannerNodeConfig)
        import torch  # noqa: PLC0415 - after params, so a bad config fails fast
        torch.set_num_threads(self.cfg.torch_threads)
        ckpt = (Path(self.cfg.checkpoint_dir) if self.cfg.checkpoint_dir
                else default_checkpoint_dir(self.robot_name, self.config_dir))
        if not self.cfg.passive:
            check_camera_topics(self)  # before the model loads: a config error fails fast
        if not ckpt.exists() and self.cfg.allow_random_init:
            self.get_logger().warning(f"planner checkpoint {ckpt} not found: RANDOM-INIT weights "
                                   f"(seed {self.cfg.seed}); latents carry no learned meaning")
        backbone = load_backbone(ckpt, self.robot.cameras, latent_dim=self.cfg.latent_dim,
                                 robot=self.robot_name, device=self.cfg.device,
                                 allow_random_init=self.cfg.allow_random_init, seed=self.cfg.seed)
        self.core = PlannerCore(backbone, self.cfg, self.robot.command_names)
        self._last_logged_reason = ""

        io_group = MutuallyExclusiveCallbackGroup()
        infer_group = MutuallyExclusiveCallbackGroup()
        diag_group = MutuallyExclusiveCallbackGroup()
        active = not self.cfg.passive
        self.inputs = PlannerInputs(self, self.core, io_group, images=active,
                                    joint_states=active and self.core.needs_proprio)
        self.create_service(SetInstruction, self.topics.set_instruction_srv, self._on_set_instruction,
                            callback_group=io_group)
        self._worker = None
        if active:
            self.pub = self.create_publisher(Latent, self.topics.latent, STREAM)
            # inference runs on its own thread; the timer only triggers it (never blocks the executor)
            self._worker = TriggeredWorker(self._cycle, "planner_inference", self._on_cycle_error)
            self.create_timer(self.cfg.period_s, self._worker.trigger, callback_group=infer_group)
        self.create_timer(self.cfg.heartbeat_period_s, self._heartbeat, callback_group=diag_group)
        if active:
            self.get_logger().info(f"planner up: model {backbone.model_id}, cameras "
                                   f"{list(backbone.cameras)}, latent_dim {backbone.latent_dim}, "
                                   f"{self.cfg.rate_hz} Hz")
        else:
            self.get_logger().info(f"planner PASSIVE (synchronous baseline: the action expert runs "
                                   f"System 2 inline): instruction topic and service only, no "
                                   f"latents published (model {backbone.model_id})")

    def _on_set_instruction(self, req: SetInstruction.Request, resp: SetInstruction.Response):
        resp.success, resp.message, resp.instruction_id = self.inputs.set_instruction(req.instruction)
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
        self.pub.publish(latent_msg(res, self.core.backbone.model_id))

    def _on_cycle_error(self, e: BaseException) -> None:
        if not self.context.ok():  # shutting down (SIGINT): the publisher's context is gone
            return
        self.get_logger().error(f"planner cycle failed: {type(e).__name__}: {e}",
                                throttle_duration_sec=2.0)

    def destroy_node(self):
        if self._worker is not None:
            self._worker.stop()
        return super().destroy_node()

    def _heartbeat(self) -> None:
        st = self.core.stats()
        st["bad_images"] = self.inputs.bad_images
        st["passive"] = self.cfg.passive
        if self._worker is None:
            self.publish_diagnostics(OK, "passive: the action expert runs System 2 inline", st)
            return
        st["overrun_cycles"] = self._worker.coalesced  # timer fired while inference still ran
        reason = st["last_reason"]
        level = OK if reason == "ok" else (ERROR if "rejected" in reason else WARN)
        self.publish_diagnostics(level, "publishing latents" if level == OK else str(reason), st)


def main(args=None) -> int:
    return run_node(PlannerNode, args)


if __name__ == "__main__":
    sys.exit(main())
