"""vla_sim: MuJoCo simulation bridge node (thin ROS adapter around ``vla_sim.env.SimEnv``).

Publishes /clock and /joint_states every physics step (2 ms sim time -> 500 Hz), camera images
and CameraInfo per camera at its configured sim-time rate (rendered in a thread of its own so
physics keeps its rate), and the latched task state on /vla_sim/task (on reset and when success
or the lifted objects change). Takes std_msgs/Float64MultiArray commands on each configured
``<controller>/commands`` topic and offers /vla_sim/reset (vla_interfaces/ResetTask).
"""
from __future__ import annotations

import array
import json
import math
import sys
import threading
import time

import rclpy
from rosgraph_msgs.msg import Clock
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from vla_interfaces.srv import ResetTask

from vla_common.ros_node_base import ERROR, OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_common.ros_qos import COMMAND, LATCHED, sensor_pub
from vla_common.ros_time import s_to_stamp
from vla_common.timing import RateMeter
from vla_sim.command_gate import CommandError
from vla_sim.factory import make_env
from vla_sim.render_worker import RenderWorker, model_state
from vla_sim.sim_config import CameraSchedule, RealTimePacer, SimNodeConfig


def _darray(v) -> array.array:
    """float64 array.array: the message setter takes it without a per-element check."""
    a = array.array("d")
    a.frombytes(v.astype(float).tobytes())
    return a


class SimNode(StackNode):
    def __init__(self, **kwargs):
        super().__init__("vla_sim", **kwargs)
        self.cfg = declare_config(self, SimNodeConfig)
        # stamp_epoch "wall": stamps are the system time at which a state was taken, as a robot
        # driver's are (a sim slower than real time then shows as aging data, never as a clock
        # that drifts away from the nodes' wall clock)
        self._wall_stamps = self.cfg.stamp_epoch == "wall"
        self.env = make_env(self.robot, self.cfg.command_timeout_s, self.cfg.model_path or None,
                            self.cfg.task_check_period_steps)
        task = self.cfg.task or next(iter(self.env.tasks))
        self.env.reset(task, self.cfg.seed, self.cfg.instruction_split)
        self.cams = self.cfg.camera_settings(tuple(self.robot.cameras)) if self.cfg.render_enabled else {}
        for c in self.cams:
            if c not in self.robot.interfaces.cameras:
                raise ValueError(f"camera '{c}' has no topic in interfaces.{self.mode}.cameras")

        self._clock_pub = self.create_publisher(Clock, self.topics.clock, 10)
        # one joint state per physics step; history sized per stream rate (see ros_qos)
        self._js_pub = self.create_publisher(JointState, self.robot.interfaces.joint_states,
                                             sensor_pub(1.0 / self.env.dt_s))
        self._task_pub = self.create_publisher(String, self.topics.sim_task, LATCHED)
        self._img_pubs = {c: (self.create_publisher(Image, self.robot.interfaces.cameras[c] + "/image_raw",
                                                    sensor_pub(self.cams[c][2])),
                              self.create_publisher(CameraInfo, self.robot.interfaces.cameras[c] + "/camera_info",
                                                    sensor_pub(self.cams[c][2])))
                          for c in self.cams}
        cmd_group = ReentrantCallbackGroup()
        for i, out in enumerate(self.robot.interfaces.command_outputs):
            self.create_subscription(Float64MultiArray, out.topic,
                                     lambda msg, i=i: self._on_command(i, msg), COMMAND,
                                     callback_group=cmd_group)
        self.create_service(ResetTask, self.topics.sim_reset_srv, self._on_reset,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(self.cfg.heartbeat_period_s, self._heartbeat,
                          callback_group=MutuallyExclusiveCallbackGroup())

        self._js = JointState(name=list(self.env.command_names))
        self._step_meter = RateMeter(500)
        self._img_meter = {c: RateMeter(50) for c in self.cams}
        self._rejected_log_s = -1e9
        self._last_error = ""
        self._success = None
        self._lifted: list[str] | None = None
        self._running = True
        self._frame_lock = threading.Condition()
        self._frames_due: list[str] = []
        self._publish_task_state()
        self._physics = threading.Thread(target=self._physics_loop, name="vla_sim_physics", daemon=True)
        self._render = threading.Thread(target=self._render_loop, name="vla_sim_render", daemon=True)
        if self.cams:
            self._render.start()
        self._physics.start()
        self.get_logger().info(
            f"vla_sim up: robot={self.robot.robot} mode={self.mode} task={self.env.task.name} "
            f"dt={self.env.dt_s}s rtf={'max' if self.cfg.real_time_factor <= 0 else self.cfg.real_time_factor} "
            f"cameras={self.cams} outputs={[o.topic for o in self.robot.interfaces.command_outputs]}")

    # ------------------------------------------------------------------ commands and services
    def _on_command(self, index: int, msg: Float64MultiArray) -> None:
        try:
            self.env.submit(index, msg.data)
        except CommandError as e:
            self._last_error = str(e)
            # Log every rejection but at most ~5 per second (a flood must not stall the node).
            now = time.monotonic()
            if now - self._rejected_log_s > 0.2:
                self._rejected_log_s = now
                self.get_logger().error(f"command rejected, arm holds: {e}")

    def _on_reset(self, req: ResetTask.Request, resp: ResetTask.Response) -> ResetTask.Response:
        try:
            resp.instruction = self.env.reset(req.task or None, int(req.seed), self.cfg.instruction_split)
            resp.success = True
            resp.message = f"task {self.env.task.name} seed {req.seed}"
            self._success = None
            self._publish_task_state()
        except (KeyError, RuntimeError, ValueError) as e:
            resp.success = False
            resp.message = str(e)
            self.get_logger().error(f"reset failed: {e}")
        return resp

    def _publish_task_state(self) -> None:
        st = self.env.task_state()
        self._success = st["success"]
        self._lifted = st["lifted_objects"]
        self._task_pub.publish(String(data=json.dumps(st)))

    def _heartbeat(self) -> None:
        stale = [g.spec.topic for g in self.env.gates if g.is_stale(self.env.time_s)]
        vals = {"sim_time_s": round(self.env.time_s, 3), "step_rate_hz": round(self._step_meter.rate_hz(), 1),
                "task": self.env.task.name if self.env.task else "", "holding": ",".join(stale),
                "rejected_commands": sum(g.rejected for g in self.env.gates)}
        vals.update({f"image_rate_hz.{c}": round(m.rate_hz(), 2) for c, m in self._img_meter.items()})
        level = OK
        msg = "running"
        if self._last_error:
            level, msg = WARN, f"last rejected command: {self._last_error}"
            self._last_error = ""
        self.publish_diagnostics(level, msg, vals)

    # ------------------------------------------------------------------ physics thread
    def _physics_loop(self) -> None:
        fast = self.cfg.real_time_factor <= 0
        pacer = None if fast else RealTimePacer(self.cfg.real_time_factor)
        # first frame with the first physics step, then every period after it
        sched = CameraSchedule({c: s[2] for c, s in self.cams.items()}, self.env.time_s + self.env.dt_s)
        k = 0
        try:
            while self._running and self.context.ok():
                self.env.step(1)
                t = self.env.time_s
                self._publish_state(t)
                self._step_meter.tick(t)
                k += 1
                if k % self.cfg.task_check_period_steps == 0:
                    # env.step latched the lifted objects at this same cadence
                    if self.env.success() != self._success or self.env.lifted_objects() != self._lifted:
                        self._publish_task_state()
                due = sched.due(t) if self.cams else []
                if due:
                    with self._frame_lock:
                        self._frames_due = list(dict.fromkeys(self._frames_due + due))
                        self._frame_lock.notify_all()
                        # Lock step in fast mode: the sim-time image rate must hold (the render
                        # thread empties the list, also when it dies).
                        while fast and self._frames_due and self._running:
                            self._frame_lock.wait(0.5)
                if pacer is not None:
                    w = pacer.wait_s(t, time.monotonic())
                    if w > 0:
                        time.sleep(w)
        except Exception as e:  # noqa: BLE001 - say so loudly; the arm stops moving with the sim
            if not self._running or not self.context.ok():
                return  # shutting down: publishers are gone
            self.get_logger().fatal(f"physics loop died: {e!r}")
            self.publish_diagnostics(ERROR, f"physics loop died: {e!r}", {})
            raise

    def _publish_state(self, t: float) -> None:
        stamp = s_to_stamp(time.time() if self._wall_stamps else t)
        self._clock_pub.publish(Clock(clock=stamp))
        js = self._js
        js.header.stamp = stamp
        with self.env.lock:
            pos = self.env.joint_positions()
            vel = self.env.joint_velocities()
            eff = self.env.joint_efforts()
        js.position, js.velocity, js.effort = _darray(pos), _darray(vel), _darray(eff)
        self._js_pub.publish(js)

    # ------------------------------------------------------------------ render thread
    def _render_loop(self) -> None:
        infos = {c: self._camera_info(c, w, h) for c, (w, h, _) in self.cams.items()}
        worker = None
        try:
            if self.cfg.render_in_subprocess:
                worker = RenderWorker(self.robot_name, self.mode, self.config_dir, self.cfg.model_path or None)
            while self._running and self.context.ok():
                with self._frame_lock:
                    self._frame_lock.wait_for(lambda: self._frames_due or not self._running, 0.5)
                    due = list(self._frames_due)
                if not due:
                    continue
                with self.env.lock:  # one consistent physics state for every due camera
                    t = time.time() if self._wall_stamps else self.env.time_s
                    qpos = self.env.data.qpos.copy()
                    version = self.env.model_version
                    mstate = model_state(self.env.model) if worker is not None else None
                if worker is not None:
                    imgs = worker.render(qpos, version, mstate, [(c, *self.cams[c][:2]) for c in due])
                else:
                    imgs = [self.env.render(c, *self.cams[c][:2]) for c in due]
                stamp = s_to_stamp(t)
                for c, rgb in zip(due, imgs):
                    h, w = rgb.shape[:2]
                    img = Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                                data=rgb.tobytes())
                    img.header.stamp = stamp
                    img.header.frame_id = infos[c].header.frame_id
                    infos[c].header.stamp = stamp
                    pub_img, pub_info = self._img_pubs[c]
                    pub_img.publish(img)
                    pub_info.publish(infos[c])
                    self._img_meter[c].tick(t)
                with self._frame_lock:
                    self._frames_due = [c for c in self._frames_due if c not in due]
                    self._frame_lock.notify_all()
        except Exception as e:  # noqa: BLE001
            if self._running and self.context.ok():
                self.get_logger().error(f"render thread died (no more images): {e!r}")
            with self._frame_lock:
                self._frames_due = []
                self.cams = {}
                self._frame_lock.notify_all()
        finally:
            if worker is not None:
                worker.close()
            self.env.close()

    def _camera_info(self, cam: str, w: int, h: int) -> CameraInfo:
        fovy = self._fovy(cam)
        f = 0.5 * h / math.tan(math.radians(fovy) / 2)
        info = CameraInfo(width=w, height=h, distortion_model="plumb_bob", d=[0.0] * 5,
                          k=[f, 0.0, w / 2, 0.0, f, h / 2, 0.0, 0.0, 1.0],
                          r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
                          p=[f, 0.0, w / 2, 0.0, 0.0, f, h / 2, 0.0, 0.0, 0.0, 1.0, 0.0])
        info.header.frame_id = f"{cam}_camera_optical_frame"
        return info

    def _fovy(self, cam: str) -> float:
        import mujoco
        i = mujoco.mj_name2id(self.env.model, mujoco.mjtObj.mjOBJ_CAMERA, self.env.spec.cameras[cam])
        return float(self.env.model.cam_fovy[i])

    def destroy_node(self):
        self._running = False
        with self._frame_lock:
            self._frame_lock.notify_all()
        for th in (self._physics, self._render):
            if th.is_alive():
                th.join(timeout=2.0)
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(lambda: SimNode(), args)


if __name__ == "__main__":
    sys.exit(main())
