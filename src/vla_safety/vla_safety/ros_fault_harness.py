"""Node-level fault matrix: the same cases as :mod:`vla_safety.fault_matrix`, run against the real
``vla_safety.safety_node`` process over DDS, with sim time driven by publishing /clock here.

:class:`NodeWorld` replaces the in-process supervisor with a proxy that talks to the node
(joint states, commands, streams, heartbeats, e-stop topic/service, reset service) and records
what reaches the robot command topics, so :func:`fault_matrix.run_case` evaluates both levels with
identical case code and identical assertions.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from vla_interfaces.msg import ActionStep, Latent, SafetyStatus

from vla_common.config import find_config_dir, load_robot_config, load_topics
from vla_common.ros_qos import COMMAND, SENSOR_PUB, STREAM
from vla_common.ros_time import s_to_stamp, stamp_to_s
from vla_common.testing import claim_domain_id, graph_env
from vla_safety import fault_matrix as fm
from vla_safety.state_machine import State
from vla_safety.supervisor import Counters, Supervisor

NODE_PERIOD_S = 0.01   # coarser than the core matrix: fewer DDS round trips per sim second
NODE_CASES = ("velocity_over_limit_clamped", "command_jump_holds", "nan_position_holds",
              "unknown_joint_name_holds", "out_of_order_stamp_holds", "command_stale_holds",
              "joint_states_stale_stops", "heartbeat_missing_holds", "estop_estops",
              "estop_service_estops", "estop_held_refuses_reset", "table_contact_held_on_wall",
              "aloha_arms_approach_slow_then_stop", "aloha_left_geofence_exit_holds")


def node_cfg_overrides() -> dict:
    # watchdog timeouts of 10 periods: DDS delivers /clock and the inputs on separate topics, so
    # on a loaded machine the node can see a clock step before that step's joint states
    return dict(control_period_s=NODE_PERIOD_S, joint_states_timeout_s=0.1, command_timeout_s=0.1,
                future_tolerance_s=0.05)


def override_params_file(path: Path, node: str = "vla_safety", **values) -> Path:
    """A params file with ``values`` for ``node``. Passed after the stack's params file it wins
    (a ``-p`` on the command line would not: node-specific file entries beat it)."""
    import yaml
    vals = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    path.write_text(yaml.safe_dump({node: {"ros__parameters": vals}}))
    return path


def _param_args(cfg, path: Path) -> list[str]:
    keys = ("control_period_s", "workspace_min_m", "workspace_max_m", "watched_nodes",
            "heartbeat_timeout_s", "command_timeout_s", "joint_states_timeout_s",
            "action_timeout_s", "latent_timeout_s", "latent_grace_s", "slowdown_s",
            "future_tolerance_s", "pos_margin_rad", "geometry_enabled", "table_z_m",
            "ee_table_margin_m", "self_stop_distance_m", "self_slow_distance_m",
            "env_stop_distance_m", "env_slow_distance_m")
    return ["--params-file", str(override_params_file(path, **{k: getattr(cfg, k) for k in keys}))]


class Graph:
    """One safety node process plus an in-process rclpy node that plays every other party."""

    def __init__(self, mode: str = "sim", log_path: Path | None = None, robot: str = "franka"):
        self.domain = claim_domain_id()
        self.robot = load_robot_config(robot, mode)
        self.topics = load_topics()
        self.cfg = fm.matrix_config(mode, robot, **node_cfg_overrides())
        params = find_config_dir() / f"{robot}_{'sim' if mode.startswith('sim') else mode}.yaml"
        cmd = [sys.executable, "-m", "vla_safety.safety_node", "--ros-args", "-r",
               "__node:=vla_safety", "--params-file", str(params), "-p", f"mode:={mode}",
               *_param_args(self.cfg, Path(tempfile.mkdtemp(prefix="vla_safety_")) / "matrix.yaml")]
        self._log = open(log_path or os.devnull, "w")
        self.proc = subprocess.Popen(cmd, env=graph_env(self.domain), stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=self.domain)
        self.node = rclpy.create_node("safety_matrix_driver", context=self.ctx)
        n, t = self.node, self.topics
        self.pub_clock = n.create_publisher(Clock, "/clock", 10)
        self.pub_js = n.create_publisher(JointState, self.robot.interfaces.joint_states, SENSOR_PUB)
        self.pub_cmd = n.create_publisher(JointState, t.controller_command, COMMAND)
        self.pub_action = n.create_publisher(ActionStep, t.action, STREAM)
        self.pub_latent = n.create_publisher(Latent, t.latent, STREAM)
        self.pub_diag = n.create_publisher(DiagnosticArray, t.diagnostics, STREAM)
        self.pub_estop = n.create_publisher(Bool, t.estop, COMMAND)
        self.cli_reset = n.create_client(Trigger, t.reset_srv)
        self.cli_estop = n.create_client(Trigger, t.estop_srv)
        self.outs = self.robot.interfaces.command_outputs
        self.latest: dict[str, list] = {}
        self.fresh: set[str] = set()
        for o in self.outs:
            n.create_subscription(Float64MultiArray, o.topic,
                                  lambda m, tp=o.topic: self._on_out(tp, m), COMMAND)
        self.statuses: list[tuple[float, State, list[str]]] = []
        self.world = None
        self.arm_idx = None
        self.k = 0
        self.k_out = 0
        self.q_last = None
        self.timeouts = 0
        self.reasons: list[str] = []
        n.create_subscription(SafetyStatus, t.safety_status, self._on_status, STREAM)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(n)
        for _ in range(3):  # the node has a clock before anything else arrives
            self.pub_clock.publish(Clock(clock=s_to_stamp(1.0 - 0.05)))
            self.spin(0.01)

    def _on_out(self, topic, msg):
        self.latest[topic] = list(msg.data)
        self.fresh.add(topic)
        if self.world is not None and topic in self.world.sequences:
            # every message of every output in arrival order, checked on that output's DoFs
            q = self.world.q_meas.copy() if self.world.q_meas is not None else None
            if q is not None:
                q[self.out_idx[topic]] = msg.data
                self.world.sequences[topic].append((self.k, q))

    def _on_status(self, msg):
        self.statuses.append((stamp_to_s(msg.header.stamp), State(msg.state),
                              {f.code: SimpleNamespace(reason=f.reason) for f in msg.active_faults}))
        self.reasons.append(msg.last_transition_reason)

    def spin(self, wall_s: float) -> None:
        end = time.monotonic() + wall_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=max(0.0, min(0.005, end - time.monotonic())))

    def wait_for(self, pred, wall_s: float = 20.0) -> bool:
        end = time.monotonic() + wall_s
        while time.monotonic() < end:
            if pred():
                return True
            self.executor.spin_once(timeout_sec=0.01)
            if self.proc.poll() is not None:
                raise RuntimeError(f"safety node exited with {self.proc.returncode}")
        return pred()

    def call(self, client, wall_s: float = 10.0):
        if not client.wait_for_service(timeout_sec=wall_s):
            raise RuntimeError(f"service {client.srv_name} not available")
        fut = client.call_async(Trigger.Request())
        self.wait_for(fut.done, wall_s)
        return fut.result()

    def close(self) -> None:
        try:
            self.node.destroy_node()
            rclpy.shutdown(context=self.ctx)
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self._log.close()


class NodeSupervisorProxy:
    """What :func:`fault_matrix.run_case` needs from a supervisor, answered by the real node."""

    def __init__(self, g: Graph, world: "NodeWorld"):
        self.g, self.w = g, world
        # limits, bounds and geometry queries only; never gates anything
        geo = fm.robot_geometry(g.robot) if g.cfg.geometry_enabled else None
        local = Supervisor(g.robot, g.cfg, geo)
        self.names, self.n, self.lim, self.cfg = local.names, local.n, local.lim, g.cfg
        self.dt, self.effort_mask, self.geometry = local.dt, local.effort_mask, local.geometry
        self.geofence_excess = local.geofence_excess
        self._arm_idx, self._grip_idx = local._arm_idx, local._grip_idx
        self.stop_bound_s = local.stop_bound_s
        self.stream = None
        self.counters = Counters()

    @property
    def state(self) -> State:
        return self.g.statuses[-1][1] if self.g.statuses else State.INIT

    @property
    def faults(self) -> dict:
        return dict(self.g.statuses[-1][2]) if self.g.statuses else {}

    def estop(self, now_s: float, reason: str, active: bool = True) -> None:
        if active and "service" in reason:
            self.g.call(self.g.cli_estop)
        else:
            self.g.pub_estop.publish(Bool(data=bool(active)))
        self.w.step(1)

    def reset(self, now_s: float):
        self.w.step(1)
        r = self.g.call(self.g.cli_reset)
        self.w.step(1)
        return r.success, r.message


class NodeWorld(fm.World):
    """:class:`fault_matrix.World` whose supervisor is the real node over DDS."""

    graph: Graph = None

    def step(self, n: int = 1) -> None:
        g = self.graph
        for _ in range(n):
            now = self.now
            # cleared before the clock: in a latched state the node's tick answers the clock
            # itself (often within the spin below), and that output belongs to this step
            g.fresh.clear()
            g.pub_clock.publish(Clock(clock=s_to_stamp(now)))
            g.spin(0.002)  # let the node take the clock first (commands are stamped with it)
            if self.heart_alive and self.k % 10 == 0:
                g.pub_diag.publish(DiagnosticArray(status=[DiagnosticStatus(name="vla_controller")]))
            if self.action_alive:
                m = ActionStep(names=list(self.sup.names))
                m.header.stamp = s_to_stamp(now)
                g.pub_action.publish(m)
            if self.latent_alive and self.k % 5 == 0:
                m = Latent()
                m.header.stamp = s_to_stamp(now - 0.05)
                g.pub_latent.publish(m)
            if self.js_alive:
                names, q, v, eff = self.measured()
                # no velocity: the plant here only knows targets (the gate estimates nothing from it)
                m = JointState(name=list(names), position=[float(x) for x in q])
                m.header.stamp = s_to_stamp(now)
                g.pub_js.publish(m)
            if self.cmd_alive:
                cmd = (self.cmd_fn or (lambda w, t, d: d(t)))(self, now, self.default_cmd)
                if cmd is not None:
                    stamp, names, q, tau = cmd
                    m = JointState(name=list(names), position=[float(x) for x in q])
                    m.header.stamp = s_to_stamp(stamp) if np.isfinite(stamp) else s_to_stamp(0)
                    g.pub_cmd.publish(m)
            st = self.sup.state
            # while moving without commands (a stall) we also wait: that keeps the node in step
            # with the clock we publish (its detection is then counted in its own periods)
            expect = st in (State.HOLD, State.STOPPED, State.ESTOP, State.RUNNING,
                            State.DEGRADED) or (self.cmd_alive and st == State.READY)
            topics = [o.topic for o in g.outs]  # one gate output = a message on every topic
            got = g.wait_for(lambda: all(t in g.fresh for t in topics), 0.5 if expect else 0.005)
            g.spin(0.001)
            if got:
                pos = np.concatenate([np.asarray(g.latest[o.topic]) for o in g.outs])
                idx = [self.sup.names.index(j) for o in g.outs for j in o.joints]
                q = np.empty(len(pos))
                q[idx] = pos
                self.log.append((self.k, q, np.zeros(len(q)), self.sup.state))
                self.v_meas = (q - self.q_meas) / (self.dt * max(1, self.k - g.k_out))
                self.q_meas = q.copy()
                g.k_out, g.q_last = self.k, q.copy()
                if "CLAMPED" in self.sup.faults:
                    self.sup.counters.clamped += 1
            else:
                self.v_meas = np.zeros_like(self.q_meas)
            self.log.append((self.k, None, None, self.sup.state))
            faults = self.sup.faults
            self.codes.update(faults)
            for c, f in faults.items():
                self.reasons.setdefault(c, f.reason)
            self.k += 1
            g.k = self.k
            g.timeouts += int(expect and not got)

    def first_k(self, states, since: int):
        # inputs injected before step ``since`` meet the node's clock of step since - 1
        t_since = 1.0 + (since - 1) * self.dt - 1e-9
        for t, st, _ in self.graph.statuses:
            if t >= t_since and st in states:
                return max(since, int(round((t - 1.0) / self.dt)))
        return None


_GRAPH: Graph | None = None


def make_node_world(mode: str = "sim", cfg_over=None, amp: float = 0.25, freq_hz: float = 0.5,
                    shape=(1.0, 0.3, 0.5, 0.4, 1.0, 0.5, 1.0, 0.0), robot: str = "franka") -> NodeWorld:
    """A fresh world on the shared graph: the node is reset (or e-stopped then reset) first."""
    g = _GRAPH
    if g.robot.robot != robot:
        raise RuntimeError(f"node graph runs {g.robot.robot}, case needs {robot}")
    if robot == "aloha":
        shape = fm.ALOHA_SHAPE
    w = NodeWorld(None, g.robot)
    w.graph = g
    w.sup = NodeSupervisorProxy(g, w)
    g.world = None
    g.out_idx = {o.topic: [w.sup.names.index(j) for j in o.joints] for o in g.outs}
    w.sequences = {o.topic: [] for o in g.outs}
    w.sequence_masks = {t: np.isin(np.arange(w.sup.n), idx) for t, idx in g.out_idx.items()}
    home = fm.home_q(g.robot)
    w.k = g.k  # later cases continue the clock (no jump: joint states would go stale)
    start = home if g.q_last is None else g.q_last
    w.q_meas, w.v_meas = start.copy(), np.zeros(len(home))
    t0 = w.now
    shape = np.asarray(shape, float)
    w.nominal = lambda now: home + amp * shape * (1 - np.cos(2 * np.pi * freq_hz * (now - t0))) / 2
    # bring the node to RUNNING: healthy streams, then reset if it is latched from the last case
    w.nominal_hold = home
    hold = w.nominal
    w.nominal = lambda now: start  # continue from where the last case left the arm: no jump
    w.step(5)
    if w.sup.state not in (State.RUNNING, State.READY, State.INIT):
        g.pub_estop.publish(Bool(data=False))
        for _ in range(100):  # the stop ramp must finish before a reset is accepted
            w.step(1)
            ok, msg = w.sup.reset(w.now)
            if ok:
                break
        if not ok:
            raise RuntimeError(f"could not reset the node between cases: {msg}")
    t_home = w.now
    # back home smoothly (well inside the limits, so the controller stream never jumps)
    w.nominal = lambda now: start + (home - start) * min(1.0, (now - t_home) / 0.8)
    for _ in range(150):  # back home through the gate (velocity-clamped)
        w.step(1)
        if np.max(np.abs(w.q_meas - home)) < 1e-6:
            break
    w.step(5)
    w.nominal = hold
    t0 = w.now
    w.nominal = lambda now: home + amp * shape * (1 - np.cos(2 * np.pi * freq_hz * (now - t0))) / 2
    g.world, w.codes = w, set()  # from here on every arm message and fault code counts
    w.run_s(0.2)
    if w.sup.state != State.RUNNING:
        raise RuntimeError(f"node did not reach RUNNING: {g.statuses[-3:]}")
    return w


def run_node_cases(names=NODE_CASES, log_path: Path | None = None) -> list[fm.CaseResult]:
    """All ``names``, one graph session (one node process) per robot, in order."""
    global _GRAPH
    results = []
    for robot in dict.fromkeys(fm.ROBOT_OF.get(n, "franka") for n in names):
        log = None if log_path is None else Path(log_path).with_name(f"{Path(log_path).stem}_{robot}.log")
        _GRAPH = Graph("sim", log, robot)
        try:
            _GRAPH.wait_for(lambda: _GRAPH.pub_cmd.get_subscription_count() > 0 and
                            _GRAPH.cli_reset.service_is_ready(), 30.0)
            results += [fm.run_case(n, make=make_node_world, level="node") for n in names
                        if fm.ROBOT_OF.get(n, "franka") == robot]
        finally:
            _GRAPH.close()
            _GRAPH = None
    return results
