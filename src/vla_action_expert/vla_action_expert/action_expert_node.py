"""System 1 node (ROS adapter): latents + joint states in, ActionStep stream + ActionChunks out.

Inference runs on its own thread (``TriggeredWorker``), triggered at ``inference_rate_hz``; the
stream (its own wall-clock thread, or a timer under sim time) only reads the executor, so it
never waits for the model or for System 2. The ROS executor is single-threaded and only does
short callbacks.

``inline_planner`` (the synchronous baseline): the node also holds System 2 (a planner core fed
from the camera and instruction topics) and does not subscribe to latents; when the current
chunk has run out (checked at every stream tick) the inference thread runs one blocking
``SyncCycle`` call (planner step, then the chunk on that latent), publishes the latent and
starts the chunk at the call's return; naive switching; the arm holds during the call.
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import torch
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import Image, JointState

from vla_action_expert.node_config import ActionExpertNodeConfig, load_inline_planner, load_policy
from vla_action_expert.ros_stream_process import StreamProcess
from vla_action_expert.runtime import (ActionExpertRuntime, NO_LATENT_HOLD, STREAMING,
                                       guide_weights)
from vla_action_expert.stream_worker import PeriodicDeadlines, StreamSpec, apply_fifo_priority
from vla_action_expert.sync_cycle import SyncCycle
from vla_common.config import find_config_dir
from vla_common.ros_node_base import ERROR, OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_common.ros_qos import SENSOR, STREAM, stream_pub
from vla_common.ros_time import s_to_stamp, stamp_to_s
from vla_common.worker import TriggeredWorker
from vla_interfaces.msg import ActionChunk, ActionStep, Latent
from vla_planner.ros_planner_io import PlannerInputs, latent_msg

WARMUP_CALLS = 3  # model calls before the timers start (allocator / first-call overhead)
# The model's forward pass is many small torch ops with Python in between; with the default 5 ms
# GIL switch interval the 200 Hz stream thread could wait a whole tick for the GIL.
GIL_SWITCH_INTERVAL_S = 0.0005


class ActionExpertNode(StackNode):
    def __init__(self):
        super().__init__("vla_action_expert")
        cfg = declare_config(self, ActionExpertNodeConfig)
        self.cfg = cfg
        torch.set_num_threads(cfg.torch_threads)
        policy, src = load_policy(cfg, self.robot, find_config_dir(self.config_dir))
        log = self.get_logger()
        (log.warning if src.startswith("RANDOM") else log.info)(f"action expert: {src}")
        self.rt = ActionExpertRuntime(policy, cfg.executor_config(), cfg.runtime_config())
        self.names = list(policy.config.action_names)
        pc = policy.config
        self.sync: SyncCycle | None = None
        if cfg.inline_planner:
            core, psrc = load_inline_planner(cfg, self.robot, find_config_dir(self.config_dir))
            (log.warning if psrc.startswith("RANDOM") else log.info)(f"inline planner: {psrc}")
            self.sync = SyncCycle(self.rt, core)
            log.info(f"SYNCHRONOUS BASELINE (inline_planner): System 2 + System 1 in one blocking "
                     f"call per chunk, next call when the chunk has run out; executor strategy "
                     f"naive (execution_strategy '{cfg.execution_strategy}' and "
                     f"inference_rate_hz ignored)")
        self._warm_up(policy)
        self.stream_rate_hz = cfg.stream_rate_for(self.robot.robot)
        self._why_not = "starting"
        self._chunks = 0

        infer_group = MutuallyExclusiveCallbackGroup()
        stream_group = MutuallyExclusiveCallbackGroup()
        io_group = MutuallyExclusiveCallbackGroup()
        self.chunk_pub = self.create_publisher(ActionChunk, self.topics.action_chunk, STREAM)
        self.planner_inputs: PlannerInputs | None = None
        if self.sync is None:
            self.create_subscription(Latent, self.topics.latent, self._on_latent, STREAM,
                                     callback_group=io_group)
        else:  # System 2 inline: its inputs here, its latents published for recorders/safety
            self.planner_inputs = PlannerInputs(self, self.sync.planner, io_group)
            self.latent_pub = self.create_publisher(Latent, self.topics.latent, STREAM)
        self.create_subscription(JointState, self.robot.interfaces.joint_states, self._on_js,
                                 SENSOR, callback_group=io_group)
        # the checkpoint names its wrist cameras; older ones read the `wrist_camera` parameter
        for k, cam in enumerate(pc.wrist_camera_names(cfg.wrist_camera)):
            prefix = self.robot.interfaces.cameras.get(cam)
            if prefix is None:
                raise ValueError(f"checkpoint needs wrist camera '{cam}', robot has "
                                 f"{sorted(self.robot.interfaces.cameras)}")
            self.create_subscription(Image, prefix + "/image_raw",
                                     lambda msg, k=k: self._on_image(msg, k), SENSOR,
                                     callback_group=io_group)
        job = self._infer if self.sync is None else self._sync_call
        self._infer_worker = TriggeredWorker(job, "action_inference", self._on_infer_error)
        if self.sync is None:  # sync: the stream tick triggers a call when the chunk ran out
            self.create_timer(1.0 / cfg.inference_rate_hz, self._infer_worker.trigger,
                              callback_group=infer_group)
        self._stop = threading.Event()
        self._stream_thread = None
        self.remote: StreamProcess | None = None   # the stream process, when it runs
        self._hold_sent = False
        self._start_stream(stream_group)
        self.create_timer(cfg.heartbeat_period_s, self._heartbeat, callback_group=io_group)
        log.info(f"streaming {len(self.names)} DoF on {self.topics.action} at "
                 f"{self.stream_rate_hz:g} Hz, chunks H={pc.horizon} x {pc.step_period_s:g} s, "
                 f"K={policy.num_inference_steps}, strategy {cfg.strategy}")

    def _start_stream(self, group) -> None:
        """Wall clock: the stream process (or a thread); sim time: a ROS timer following /clock."""
        cfg, log = self.cfg, self.get_logger()
        wall = not self.get_parameter("use_sim_time").value
        if wall and cfg.stream_process and self.sync is None:
            # an OS process of its own: its ticks never wait for the GIL behind inference
            self.remote = StreamProcess(StreamSpec.make(
                self.get_name(), self.topics.action, self.names, self.stream_rate_hz,
                cfg.executor_config(), cfg.stream_rt_priority))
            log.info(f"stream process pid {self.remote.pid}")
            return
        self.action_pub = self.create_publisher(ActionStep, self.topics.action,
                                                 stream_pub(self.stream_rate_hz))
        if wall and cfg.stream_process:
            log.info("stream_process is not used with inline_planner (the stream tick triggers "
                     "the blocking call)")
        if wall and cfg.stream_thread:
            # a dedicated thread sleeping to absolute deadlines keeps the period free of the
            # executor's dispatch overhead
            self._stream_thread = threading.Thread(target=self._stream_loop, daemon=True,
                                                   name="action_stream")
            self._stream_thread.start()
        else:
            self.create_timer(1.0 / self.stream_rate_hz, self._stream, callback_group=group)

    def _warm_up(self, policy) -> None:
        obs = {"latent": np.zeros(policy.config.latent_dim), "latent_age_s": 0.0,
               "state": policy.norm.state_mean.astype(np.float64)}
        if policy.config.wrist_image_size:
            s = policy.config.wrist_image_size
            obs["wrist_image"] = np.zeros((s, s, policy.config.wrist_image_channels), np.uint8)
        for _ in range(WARMUP_CALLS):
            policy.predict_action_chunk(obs, seed=0)
        policy.reset()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- inputs -------------------------------------------------------------------------------
    def _on_latent(self, msg: Latent) -> None:
        err = self.rt.on_latent(np.asarray(msg.latent, dtype=np.float32), stamp_to_s(msg.header.stamp))
        if err:
            self.get_logger().error(f"rejected latent: {err}", throttle_duration_sec=2.0)

    def _on_js(self, msg: JointState) -> None:
        err = self.rt.on_joint_state(msg.name, msg.position, self._now(),
                                     stamp_to_s(msg.header.stamp))
        if err:
            self.get_logger().error(f"rejected joint state: {err}", throttle_duration_sec=2.0)
        elif self.remote is not None and not self._hold_sent:
            self._hold_sent = self.remote.send_hold(self.rt.hold_value())
        if self.planner_inputs is not None and self.sync.planner.needs_proprio:
            self.planner_inputs.on_joint_state(msg)

    def _on_image(self, msg: Image, camera_index: int = 0) -> None:
        if msg.encoding != "rgb8" or len(msg.data) != msg.height * msg.width * 3:
            self.get_logger().error(f"rejected wrist image: encoding {msg.encoding}, "
                                    f"{msg.width}x{msg.height}", throttle_duration_sec=2.0)
            return
        img = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
        self.rt.on_wrist_image(img, stamp_to_s(msg.header.stamp), camera_index)

    # --- inference / stream -------------------------------------------------------------------
    def _infer(self) -> None:
        req, why = self.rt.prepare(self._now())
        self._why_not = why
        if req is None:
            return
        t0 = time.perf_counter()
        try:
            chunk = self.rt.run(req)
        except ValueError as e:
            self.rt.rejected["chunk"] += 1
            self.get_logger().error(f"rejected chunk: {e}", throttle_duration_sec=2.0)
            return
        wall = time.perf_counter() - t0
        avail_s = self._now()  # recorded as available_time so a re-run commits at the same time
        tc = self.rt.commit(req, chunk, avail_s, wall)
        if self.remote is not None:
            self.remote.send_chunk(tc, avail_s)
        self._publish_chunk(req, tc, wall, avail_s)

    def _sync_call(self) -> None:
        """Synchronous baseline: one blocking planner + expert call (after ``sync.request``)."""
        call = self.sync.call(self._now(), clock=self._now)
        if call.planner.latent is not None:
            self.latent_pub.publish(latent_msg(call.planner, self.sync.planner.backbone.model_id))
        if call.chunk is None:
            self._why_not = call.reason
            if call.reason.startswith("rejected"):
                self.get_logger().error(call.reason, throttle_duration_sec=2.0)
            return
        self._why_not = ""
        avail_s = self._now()  # the chunk starts now: the call has returned
        self._publish_chunk(call.request, self.sync.commit(call, avail_s), call.s1_wall_s, avail_s)

    def _publish_chunk(self, req, tc, wall: float, avail_s: float) -> None:
        """header.stamp = request time (the state's time); chunk_start_time = row 0's time
        (the same in the dual system; the call's return in the synchronous baseline);
        state_* = the joint state the chunk was conditioned on, wrist_image_stamp = the wrist
        frame it saw (async and sync paths alike: both pass the runtime's InferenceRequest)."""
        self._chunks += 1
        m = ActionChunk(action_names=self.names, horizon=tc.horizon,
                        action_dim=tc.actions.shape[1],
                        data=tc.actions.astype(np.float32).ravel().tolist(),
                        step_period_s=tc.period_s, chunk_start_time=s_to_stamp(tc.start_s),
                        sequence=tc.sequence, latent_stamp=s_to_stamp(req.latent_stamp_s),
                        inference_time_s=wall, available_time=s_to_stamp(avail_s),
                        state_stamp=s_to_stamp(req.state_stamp_s),
                        wrist_image_stamp=s_to_stamp(req.wrist_stamp_s),
                        # the state itself: a bag that lost this joint state still re-runs
                        state_names=self.names, state_position=req.state.tolist(),
                        # the RTC weights: a re-run rebuilds the guide without our delay history
                        guide_weight=guide_weights(req.guide).tolist())
        m.header.stamp = s_to_stamp(req.start_s)
        self.chunk_pub.publish(m)

    def _stream_loop(self) -> None:
        if self.cfg.stream_rt_priority > 0:  # in process: the GIL is still shared with inference
            ok, what = apply_fifo_priority(self.cfg.stream_rt_priority, threading.get_native_id())
            (self.get_logger().info if ok else self.get_logger().warning)(f"stream thread: {what}")
        deadlines = PeriodicDeadlines(1.0 / self.stream_rate_hz, time.monotonic())
        while not self._stop.is_set():
            delay = deadlines.advance(time.monotonic())
            if delay > 0:
                self._stop.wait(delay)
            try:
                self._stream()
            except Exception as e:  # noqa: BLE001 - context shut down while publishing
                if not self._stop.is_set():
                    self.get_logger().error(f"stream tick failed: {e}", throttle_duration_sec=2.0)

    def _on_infer_error(self, e: BaseException) -> None:
        if not self.context.ok():  # shutting down (SIGINT): the publisher's context is gone
            return
        self.get_logger().error(f"inference failed: {type(e).__name__}: {e}",
                                throttle_duration_sec=2.0)

    def destroy_node(self):
        self._stop.set()
        self._infer_worker.stop()
        if self._stream_thread is not None:
            self._stream_thread.join(timeout=1.0)
        if self.remote is not None:
            self.remote.stop()
        return super().destroy_node()

    def _stream(self) -> None:
        now = self._now()
        out = self.rt.stream(now)
        if out is None:
            return
        m = ActionStep(names=self.names, values=out.values.tolist(),
                       chunk_sequence=out.chunk_sequence, step_index=out.step_index)
        m.header.stamp = s_to_stamp(now)
        self.action_pub.publish(m)
        if self.sync is not None and self.sync.request(now):
            self._infer_worker.trigger()  # the chunk has run out: the next blocking call

    def _stream_figures(self) -> tuple[str, float, float, int]:
        """(mode, rate_hz, period p99 s, non-finite values replaced) of whichever stream runs."""
        rt = self.rt
        if self.remote is None:
            return (rt.mode, rt.stream_rate.rate_hz(), rt.stream_rate.periods_s.percentile(99),
                    rt.rejected["nonfinite_stream"])
        st = self.remote.poll_stats()
        return (st.get("mode", "starting"), st.get("rate_hz", 0.0),
                st.get("period_p99_s", float("nan")), st.get("nonfinite", 0))

    def _heartbeat(self) -> None:
        rt = self.rt
        inf = rt.infer_wall_s
        mode, rate_hz, p99_s, nonfinite = self._stream_figures()
        level = OK if mode == STREAMING else WARN
        msg = mode if mode == STREAMING else f"{mode}: {self._why_not}"
        if mode == NO_LATENT_HOLD:
            msg = f"holding the first joint state: {self._why_not}"
        if self.remote is not None and self.remote.exit_code() is not None:
            level = ERROR
            msg = f"stream process exited (code {self.remote.exit_code()}): no actions streamed"
            self.get_logger().error(msg, throttle_duration_sec=2.0)
        self.publish_diagnostics(level, msg, {
            "mode": mode, "strategy": self.cfg.strategy, "inline_planner": self.sync is not None,
            "stream_process": self.remote is not None,
            "inference_p50_ms": f"{inf.percentile(50) * 1e3:.3f}",
            "inference_p99_ms": f"{inf.percentile(99) * 1e3:.3f}",
            "stream_rate_hz": f"{rate_hz:.2f}",
            "stream_period_p99_ms": f"{p99_s * 1e3:.3f}",
            "delay_estimate_ms": f"{rt.executor.delay_estimate_s() * 1e3:.2f}",
            "latent_age_s": f"{rt.latent_age_s(self._now()):.3f}",
            "chunks": self._chunks, "overrun_cycles": self._infer_worker.coalesced,
            **{f"rejected_{k}": v for k, v in {**rt.rejected, "nonfinite_stream": nonfinite}.items()},
            **self._sync_stats()})

    def _sync_stats(self) -> dict[str, object]:
        if self.sync is None:
            return {}
        st = self.sync.planner.stats()
        return {"sync_calls": self.sync.calls, "sync_latents": self.sync.latents,
                "planner_compute_p50_ms": st["compute_p50_ms"],
                "planner_last_reason": st["last_reason"], "instruction_id": st["instruction_id"],
                "bad_images": self.planner_inputs.bad_images}


def main(args=None) -> int:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    return run_node(ActionExpertNode, args)


if __name__ == "__main__":
    sys.exit(main())
