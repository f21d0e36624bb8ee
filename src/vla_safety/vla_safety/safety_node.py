"""vla_safety node: thin ROS adapter around :class:`vla_safety.supervisor.Supervisor`.

The gate runs in the controller-command callback; a timer at ``control_period_s`` runs the
watchdogs and publishes the hold/stop ramp; collision distances (~2 ms) run in a worker thread
woken by a ``collision_period_s`` timer, so the executor itself is single-threaded (rclpy's
multi-threaded executor costs more per callback than the checks themselves: it capped the gate
at ~140-320 commands/s). One lock serialises every call into the core. Output messages are
reused. Nothing is published before the first valid command (the sim/robot holds on its own).
"""
from __future__ import annotations

import sys
import threading

import rclpy

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from vla_interfaces.msg import ActionStep, Latent, SafetyFault, SafetyStatus

from vla_common.ros_node_base import ERROR, OK, WARN, StackNode, run_node
from vla_common.ros_params import declare_config
from vla_common.ros_qos import COMMAND, SENSOR, STREAM
from vla_common.ros_time import now_s, s_to_stamp, stamp_to_s
from vla_safety.collision import ModelUnavailable, build_geometry
from vla_safety.config import SupervisorConfig
from vla_safety.state_machine import LATCHED, Severity, State
from vla_safety.supervisor import GateOutput, Supervisor


class SafetyNode(StackNode):
    def __init__(self, **kwargs):
        super().__init__("vla_safety", **kwargs)
        self.cfg = declare_config(self, SupervisorConfig)
        hb = self.declare_parameter("heartbeat_period_s", 0.5).value
        geometry = None
        if self.cfg.geometry_enabled:
            try:
                geometry = build_geometry(self.robot, table_z_m=self.cfg.table_z_m)
            except ModelUnavailable as e:
                self.get_logger().warning(f"geofence/collision checks DISABLED: {e}")
        self.sup = Supervisor(self.robot, self.cfg, geometry)
        self._lock = threading.Lock()
        ctl = MutuallyExclusiveCallbackGroup()
        aux = MutuallyExclusiveCallbackGroup()
        self._pubs = {o.topic: self.create_publisher(Float64MultiArray, o.topic, COMMAND)
                      for o in self.robot.interfaces.command_outputs}
        self._out_msgs = {topic: Float64MultiArray() for topic in self._pubs}  # reused
        self._status_pub = self.create_publisher(SafetyStatus, self.topics.safety_status, STREAM)
        t = self.topics
        self.create_subscription(JointState, t.controller_command, self._on_command, COMMAND,
                                 callback_group=ctl)
        self.create_subscription(JointState, self.robot.interfaces.joint_states, self._on_js,
                                 SENSOR, callback_group=ctl)
        self.create_subscription(Bool, t.estop, self._on_estop, COMMAND, callback_group=ctl)
        self.create_subscription(ActionStep, t.action, self._on_action, STREAM, callback_group=aux)
        self.create_subscription(Latent, t.latent, self._on_latent, STREAM, callback_group=aux)
        self.create_subscription(DiagnosticArray, t.diagnostics, self._on_diag, STREAM,
                                 callback_group=aux)
        self.create_service(Trigger, t.reset_srv, self._on_reset, callback_group=ctl)
        self.create_service(Trigger, t.estop_srv, self._on_estop_srv, callback_group=ctl)
        self.create_timer(self.cfg.control_period_s, self._on_tick, callback_group=ctl)
        self.create_timer(self.cfg.status_period_s, self._publish_status, callback_group=aux)
        self.create_timer(hb, self._heartbeat, callback_group=aux)
        self._collision_wake = threading.Event()
        self._closing = False
        if geometry is not None:
            self._collision_thread = threading.Thread(target=self._collision_worker,
                                                      name="vla_safety_collision", daemon=True)
            self._collision_thread.start()
            self.create_timer(self.cfg.collision_period_s, self._collision_wake.set,
                              callback_group=aux)
        self._last_published = (-1, -1)
        self.get_logger().info(
            f"safety gate {self.robot.robot}/{self.mode}: {self.topics.controller_command} -> "
            f"{list(self._pubs)}; geometry {'on' if geometry else 'off'}; "
            f"watching {list(self.cfg.watched_nodes)}")

    # ------------------------------------------------------------------ helpers
    def _now(self) -> float:
        return now_s(self)

    def _publish(self, out: GateOutput | None) -> None:
        if out is None:
            return
        for topic, arr in zip(out.topics, out.arrays):
            msg = self._out_msgs[topic]
            msg.data = arr.tolist()
            self._pubs[topic].publish(msg)

    def _guard(self, fn, *args):
        """Run ``fn`` under the lock; an unexpected error stops the arm instead of crashing.
        Under sim time nothing is processed before the first /clock (time 0 is no time)."""
        if args and isinstance(args[0], float) and args[0] <= 0.0:
            self.get_logger().warning("no clock yet (waiting for /clock): input ignored",
                                      throttle_duration_sec=5.0)
            return None
        with self._lock:
            try:
                out = fn(*args)
            except Exception as e:  # noqa: BLE001 - the gate must not die silently
                self.get_logger().error(f"internal error in {fn.__name__}: {e!r}")
                self.sup._fault(self._now(), "INTERNAL_ERROR", Severity.STOP, repr(e))
                out = None
            st = (int(self.sup.state), self.sup.sm.transition_count)
            not_ready = self.sup.faults.get("NOT_READY")
        if st != self._last_published:
            self.get_logger().info(f"state {self.sup.state.name}: {self.sup.sm.last_reason}")
            self._publish_status()
        if not_ready is not None:
            self.get_logger().info(f"waiting to start: {not_ready.reason}",
                                   throttle_duration_sec=2.0)
        return out

    # ------------------------------------------------------------------ callbacks
    def _on_command(self, msg: JointState) -> None:
        n = self._now()
        self._publish(self._guard(self.sup.on_command, n, stamp_to_s(msg.header.stamp),
                                  msg.name, msg.position, msg.effort))

    def _on_js(self, msg: JointState) -> None:
        self._guard(self.sup.on_joint_states, self._now(), msg.name, msg.position,
                    msg.velocity, msg.effort)

    def _on_tick(self) -> None:
        self._publish(self._guard(self.sup.tick, self._now()))

    def _on_estop(self, msg: Bool) -> None:
        # e-stops work even before the first /clock (time 0 replaced by the smallest positive)
        self._guard(self.sup.estop, max(self._now(), 1e-9), f"e-stop topic {self.topics.estop}",
                    bool(msg.data))

    def _on_action(self, msg: ActionStep) -> None:
        self._guard(self.sup.on_action, self._now())

    def _on_latent(self, msg: Latent) -> None:
        self._guard(self.sup.on_latent, self._now(), stamp_to_s(msg.header.stamp))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        n = self._now()
        for st in msg.status:
            self._guard(self.sup.on_heartbeat, n, st.name)

    def _on_reset(self, req, resp):
        ok, message = self._guard(self.sup.reset, self._now()) or (False, "no clock yet")
        resp.success, resp.message = bool(ok), message
        self.get_logger().info(f"reset: {message}")
        return resp

    def _on_estop_srv(self, req, resp):
        self._guard(self.sup.estop, max(self._now(), 1e-9), f"e-stop service {self.topics.estop_srv}")
        resp.success, resp.message = True, "ESTOP latched; release with the reset service"
        return resp

    def _collision_worker(self) -> None:
        """Runs the ~2 ms distance query off the executor, once per timer wake-up."""
        while not self._closing:
            if not self._collision_wake.wait(timeout=0.5):
                continue
            self._collision_wake.clear()
            if self._closing or not rclpy.ok(context=self.context):
                return
            try:
                self._on_collision()
            except Exception as e:  # noqa: BLE001 - the watchdog holds the arm if results stop
                self.get_logger().error(f"collision worker: {e!r}")

    def destroy_node(self):
        self._closing = True
        self._collision_wake.set()
        return super().destroy_node()

    def _on_collision(self) -> None:
        with self._lock:
            query = self.sup.collision_query()
        if query is None:
            return
        try:
            d = self.sup.geometry.distances(*query)  # outside the lock: ~2 ms
        except Exception as e:  # noqa: BLE001
            self.get_logger().error(f"collision check failed: {e!r}")
            return  # the collision watchdog holds the arm when results stop coming
        self._guard(self.sup.on_collision, self._now(), d)

    # ------------------------------------------------------------------ status
    def _publish_status(self) -> None:
        with self._lock:
            s = self.sup.status()
        msg = SafetyStatus(state=int(s.state), state_name=s.state.name,
                           transition_count=s.transition_count,
                           last_transition_reason=s.last_reason, velocity_scale=float(s.velocity_scale))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.active_faults = [SafetyFault(code=f.code, reason=f.reason, severity=int(f.severity),
                                         first_seen=s_to_stamp(f.first_seen_s)) for f in s.faults]
        self._last_published = (int(s.state), s.transition_count)
        self._status_pub.publish(msg)

    def _heartbeat(self) -> None:
        with self._lock:
            s = self.sup.status()
            c = self.sup.counters
            values = {"state": s.state.name, "faults": ",".join(f.code for f in s.faults),
                      "forwarded": c.forwarded, "rejected": c.rejected, "clamped": c.clamped,
                      "hold_outputs": c.hold_outputs, "velocity_scale": f"{s.velocity_scale:.3f}",
                      "last_reason": s.last_reason}
        level = ERROR if s.state in (State.STOPPED, State.ESTOP) else (
            WARN if s.state in LATCHED or s.state == State.DEGRADED else OK)
        self.publish_diagnostics(level, s.state.name, values)


def main(args=None) -> int:
    # Single-threaded: the command path is cheap and the collision check has its own thread.
    return run_node(SafetyNode, args)


if __name__ == "__main__":
    sys.exit(main())
