"""The safety supervisor core (ROS-free): every command to the arm passes :meth:`on_command`.

Inputs are plain arrays and times (``now_s`` = the node's clock, sim time under use_sim_time).
Outputs are :class:`GateOutput` (one array per ros2_control command output) or ``None``
(= publish nothing). The node is a thin adapter; tests drive this class directly with the same
code path. Rules and the state diagram: docs/SAFETY.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vla_safety.collision import Distances, RobotGeometry
from vla_safety.config import SupervisorConfig, dof_limits, workspace_boxes
from vla_safety.limits import (all_finite, brake_step, braking_travel, limit_effort, limit_step,
                               position_excess, ratio_over, stop_time_bound_s)
from vla_safety.state_machine import LATCHED, MOVING, Severity, State, StateMachine
from vla_safety.watchdogs import HeartbeatMonitor, Watchdog

# Table wall: commands are held this far above the stop plane (table + margin). Projection stops
# a descending command abruptly, and the jerk-limited output that follows cannot stop as fast:
# measured in the graph (regular 500 Hz stream, learned grasps), it ran 3-5 mm past a command
# held 1 mm above the plane. The cushion is that braking room.
WALL_CUSHION_M = 5e-3
WALL_ITERATIONS = 3       # Newton steps on the lowest tip's height (the lowest vertex can switch)
# An output below the plane that cannot be moved back within the limits stops the arm once it is
# this far below the plane + margin (a lagging output's path around a command on the wall).
WALL_OUTPUT_TOLERANCE_M = 3e-3
FEEDFORWARD_MAX_PERIODS = 1.5  # longer steps aim at the command (no velocity extrapolation)
# Braking room above the table plane: the output's finger tips must be able to stop above it.
# 0.9: slack for the linearised tip height (the lowest vertex can switch, the path curves).
TABLE_BRAKE_ROOM_FRACTION = 0.9


@dataclass(frozen=True)
class Fault:
    code: str
    reason: str
    severity: Severity
    first_seen_s: float


@dataclass(frozen=True)
class GateOutput:
    """What goes to the robot: ``arrays[i]`` for ``topics[i]`` (that output's joint order)."""
    topics: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]
    position: np.ndarray   # full command-order position stream sample
    effort: np.ndarray     # full command-order torques (0 for position DoFs)


@dataclass
class Status:
    state: State
    faults: list[Fault]
    transition_count: int
    last_reason: str
    velocity_scale: float


@dataclass
class _Stream:
    """State of the output stream (what the arm was last told)."""
    q: np.ndarray
    v: np.ndarray
    a: np.ndarray
    tau: np.ndarray


@dataclass
class Counters:
    forwarded: int = 0
    rejected: int = 0
    clamped: int = 0
    hold_outputs: int = 0
    extra: dict = field(default_factory=dict)


class Supervisor:
    """Gate + state machine + watchdogs for one robot.

    Args:
        robot: ``vla_common.config.RobotConfig`` (names, limits, command outputs).
        cfg: thresholds.
        geometry: Pinocchio model for geofence/collision/gravity, or None (those checks off).
    """

    def __init__(self, robot, cfg: SupervisorConfig, geometry: RobotGeometry | None = None):
        self.cfg = cfg
        self.names = tuple(robot.command_names)
        self.n = len(self.names)
        self.index = {nm: i for i, nm in enumerate(self.names)}
        self.names_tuple = self.names
        self._order_cache: dict[tuple, np.ndarray] = {}
        self._js_names: tuple | None = None
        self._js_idx: np.ndarray | None = None
        self.lim = dof_limits(robot, cfg)
        self.is_gripper = np.array([nm in robot.gripper_names for nm in self.names])
        self.margin = np.where(self.is_gripper, 0.0, cfg.pos_margin_rad)
        outs = robot.interfaces.command_outputs
        self.topics = tuple(o.topic for o in outs)
        self._out_idx = [np.array([self.index[j] for j in o.joints]) for o in outs]
        self.effort_mask = np.zeros(self.n, bool)
        for o, idx in zip(outs, self._out_idx):
            if o.interface == "effort":
                self.effort_mask[idx] = True
        self._out_effort = [o.interface == "effort" for o in outs]
        self._arm_idx = np.flatnonzero(~self.is_gripper)
        self._grip_idx = np.flatnonzero(self.is_gripper)
        self.geometry = geometry if cfg.geometry_enabled else None
        self._arm_names = tuple(a.name for a in robot.arms)
        if self.geometry is not None:
            self._box_lo, self._box_hi = workspace_boxes(cfg, self.geometry.n_ee)
            self._tip_lever = self.geometry.tip_lever_bounds(self.lim.pos_max[self._grip_idx])
            arm_lim = (self.lim.acc_max[self._arm_idx], self.lim.jerk_max[self._arm_idx])
            self._ramp_max = 2.0 * arm_lim[0] / arm_lim[1]   # jerk ramp to full braking, longest
            self._inv_2acc = 0.5 / arm_lim[0]
        if self.effort_mask.any():
            k, d = np.asarray(cfg.hold_stiffness, float), np.asarray(cfg.hold_damping, float)
            n_eff = int(self.effort_mask.sum())
            if k.shape != (n_eff,) or d.shape != (n_eff,):
                raise ValueError(f"hold_stiffness/hold_damping need {n_eff} values (effort DoFs)")
            self._k, self._d = k, d
        self.sm = StateMachine()
        self.dt = cfg.control_period_s
        self.js_dog = Watchdog("joint_states", cfg.joint_states_timeout_s, stale_before_first=True)
        self.cmd_dog = Watchdog("controller_command", cfg.command_timeout_s)
        self.action_dog = Watchdog("action", cfg.action_timeout_s)
        self.latent_dog = Watchdog("latent", cfg.latent_timeout_s)
        self.hearts = HeartbeatMonitor(tuple(cfg.watched_nodes), cfg.heartbeat_timeout_s)
        self.faults: dict[str, Fault] = {}
        self.counters = Counters()
        self.stream: _Stream | None = None
        self.q_meas: np.ndarray | None = None
        self.v_meas: np.ndarray | None = None
        self.tau_meas: np.ndarray | None = None
        self._last_cmd_q: np.ndarray | None = None
        self._last_gate_q: np.ndarray | None = None   # last command after the table wall
        self._fence_cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # q -> (ee, low)
        self._cmd_tip_depth_m = float("nan")  # last command's finger tips below plane + margin
        self._last_cmd_stamp: float | None = None
        self._estop_input = False
        self._degraded_since: float | None = None
        self._scale = 1.0            # speed scale from degraded mode / collision slow zone
        self._collision_scale = 1.0
        self._last_collision_s: float | None = None
        self._last_out_s: float | None = None
        self.last_distances: Distances | None = None
        self._prev_distances: Distances | None = None
        self._decel = 1.0
        self.stop_bound_s = stop_time_bound_s(self.lim, min(cfg.hold_decel_fraction,
                                                            cfg.stop_decel_fraction), self.dt)

    # ----------------------------------------------------------------- faults and state
    def _fault(self, now_s: float, code: str, severity: Severity, reason: str) -> None:
        if code not in self.faults or self.faults[code].severity < severity:
            self.faults[code] = Fault(code, reason, severity, now_s)
        before = self.sm.state
        if self.sm.fault(now_s, severity, f"{code}: {reason}"):
            if before in LATCHED:
                self._decel = self._decel_for(self.sm.state)  # escalation: brake harder
            else:
                self._enter_latched(now_s)

    def _warn(self, now_s: float, code: str, reason: str | None) -> None:
        """Set (reason given) or clear (None) a non-latching WARN fault."""
        if reason is None:
            f = self.faults.get(code)
            if f is not None and f.severity == Severity.WARN:
                del self.faults[code]
        elif code not in self.faults:
            self.faults[code] = Fault(code, reason, Severity.WARN, now_s)

    def _decel_for(self, state: State) -> float:
        return self.cfg.hold_decel_fraction if state == State.HOLD else self.cfg.stop_decel_fraction

    def _enter_latched(self, now_s: float) -> None:
        self._decel = self._decel_for(self.sm.state)
        if self.stream is not None and self.q_meas is not None and self.effort_mask.any():
            # effort DoFs: hold around where the arm really is, braking from its real velocity
            m = self.effort_mask
            self.stream.q[m] = self.q_meas[m]
            self.stream.v[m] = 0.0 if self.v_meas is None else self.v_meas[m]
            self.stream.a[m] = 0.0

    @property
    def state(self) -> State:
        return self.sm.state

    # ----------------------------------------------------------------- inputs
    def _by_name(self, names, values, what: str) -> np.ndarray | str:
        """Map a named vector onto command order; a string is the rejection reason."""
        names = tuple(names)
        values = np.asarray(values, dtype=float).ravel()
        if len(names) != len(values):
            return f"{what}: {len(names)} names but {len(values)} values"
        if names == self.names_tuple:  # the usual case: already in command order
            return values.copy()
        cached = self._order_cache.get(names)
        if cached is not None:  # a validated reordering seen before (no per-command dict work)
            out = np.empty(self.n)
            out[cached] = values
            return out
        if len(set(names)) != len(names):
            return f"{what}: duplicate joint names"
        unknown = [nm for nm in names if nm not in self.index]
        if unknown:
            return f"{what}: unknown joint names {unknown[:3]}"
        if len(names) != self.n:
            missing = [nm for nm in self.names if nm not in names]
            return f"{what}: missing joints {missing[:3]}"
        order = np.array([self.index[nm] for nm in names])
        if len(self._order_cache) < 16:
            self._order_cache[names] = order
        out = np.empty(self.n)
        out[order] = values
        return out

    def on_joint_states(self, now_s: float, names, position, velocity=(), effort=()) -> None:
        """Measured state from /joint_states (extra joints such as fingers are ignored).

        An unusable sample (missing joint, NaN) raises JOINT_STATES_INVALID (STOP).
        """
        names = tuple(names)
        position = np.asarray(position, dtype=float).ravel()
        if len(names) != len(position):
            return self._fault(now_s, "JOINT_STATES_INVALID", Severity.STOP,
                               f"{len(names)} names vs {len(position)} positions")
        if names == self._js_names:  # same layout as the last sample: reuse its index map
            idx = self._js_idx
        else:
            pos = {nm: i for i, nm in enumerate(names)}
            missing = [nm for nm in self.names if nm not in pos]
            if missing:
                return self._fault(now_s, "JOINT_STATES_INVALID", Severity.STOP,
                                   f"joint_states lacks {missing[:3]}")
            idx = np.array([pos[nm] for nm in self.names])
            self._js_names, self._js_idx = names, idx
        q = position[idx]
        if not all_finite(q):
            return self._fault(now_s, "JOINT_STATES_INVALID", Severity.STOP,
                               "non-finite measured position")
        v = None
        velocity = np.asarray(velocity, dtype=float).ravel()
        if len(velocity) == len(names):
            v = velocity[idx]
            if not all_finite(v):
                return self._fault(now_s, "JOINT_STATES_INVALID", Severity.STOP,
                                   "non-finite measured velocity")
        effort = np.asarray(effort, dtype=float).ravel()
        self.tau_meas = effort[idx] if len(effort) == len(names) else None
        self.q_meas, self.v_meas = q, v
        self.js_dog.feed(now_s)
        exc = position_excess(q, self.lim.pos_min, self.lim.pos_max)
        if np.max(exc) > self.cfg.measured_pos_tolerance_rad:
            j = int(np.argmax(exc))
            self._fault(now_s, "MEASURED_POSITION_LIMIT", Severity.STOP,
                        f"{self.names[j]} at {q[j]:.4f} is {exc[j]:.4f} outside "
                        f"[{self.lim.pos_min[j]:.4f}, {self.lim.pos_max[j]:.4f}]")
        if v is not None:
            # arm joints only: a gripper's measured width rate jumps when its fingers hit the
            # object or the table (measured in sim: 2-4x the Franka Hand's 0.1 m/s while
            # grasping); its commanded rate is limited here and its own firmware limits its speed
            arm = ~self.is_gripper
            ratios = np.where(arm, np.abs(v) / self.lim.vel_max, 0.0)
            r = float(np.max(ratios)) if ratios.size else 0.0
            g = ratio_over(v[self.is_gripper], self.lim.vel_max[self.is_gripper])
            self._warn(now_s, "GRIPPER_SPEED", f"measured gripper speed {g:.2f}x its limit"
                       if g > self.cfg.measured_vel_stop_ratio else None)
            if r > self.cfg.measured_vel_stop_ratio:
                j = int(np.argmax(ratios))
                self._fault(now_s, "MEASURED_VELOCITY_LIMIT", Severity.STOP,
                            f"measured velocity {r:.2f}x the limit ({self.names[j]} "
                            f"{v[j]:.3f} of {self.lim.vel_max[j]:.3f})")
            elif self.effort_mask.any() and ratio_over(v[self.effort_mask],
                                                       self.lim.vel_max[self.effort_mask]) > 1.0:
                self._fault(now_s, "MEASURED_VELOCITY_LIMIT", Severity.HOLD,
                            "effort-mode joint over its velocity limit")
        if self.sm.state == State.INIT:
            self.sm.ready(now_s)

    def on_action(self, now_s: float) -> None:
        """A System 1 ActionStep arrived."""
        self.action_dog.feed(now_s)

    def on_latent(self, now_s: float, stamp_s: float) -> None:
        """A System 2 latent arrived; its age counts from its stamp (the source image's)."""
        if math.isfinite(stamp_s) and stamp_s <= now_s + self.cfg.future_tolerance_s:
            self.latent_dog.feed(min(stamp_s, now_s))

    def on_heartbeat(self, now_s: float, name: str) -> None:
        self.hearts.feed(name, now_s)

    def estop(self, now_s: float, reason: str, active: bool = True) -> None:
        """E-stop input (topic true / service). ``active=False`` releases the input only."""
        self._estop_input = bool(active)
        if active:
            self._fault(now_s, "ESTOP", Severity.ESTOP, reason)

    # ----------------------------------------------------------------- the gate
    def on_command(self, now_s: float, stamp_s: float, names, position, effort=()) -> GateOutput | None:
        """Check one controller command; return what to publish (None = nothing).

        Reordered names are mapped by name. Wrong size, unknown/missing/duplicate names,
        non-finite values, out-of-order/future/too-old stamps are rejected and HOLD.
        """
        bad = self._validate(now_s, stamp_s, names, position, effort)
        if isinstance(bad, str):
            self.counters.rejected += 1
            if bad:
                self._fault(now_s, "BAD_COMMAND", Severity.HOLD, bad)
            return None
        q_cmd, tau_cmd = bad
        prev_q, prev_stamp = self._last_cmd_q, self._last_cmd_stamp
        self._last_cmd_q, self._last_cmd_stamp = q_cmd, stamp_s
        self.cmd_dog.feed(now_s)
        state = self.sm.state
        if state in LATCHED or state == State.INIT:
            self.counters.rejected += 1
            return None
        if state == State.READY:
            why = self._start_blockers(now_s)
            if why:
                self._warn(now_s, "NOT_READY", why)
                self.counters.rejected += 1
                return None
            self._warn(now_s, "NOT_READY", None)
            self._seed_stream()
            self.sm.run(now_s)
        elif prev_q is not None:
            # a jump in the controller's own stream means it is broken: hold, do not chase it
            dt_cmd = max(self.dt, stamp_s - prev_stamp)
            r = ratio_over((q_cmd - prev_q) / dt_cmd, self.lim.vel_max)
            if r > self.cfg.jump_hold_ratio:
                self._fault(now_s, "COMMAND_JUMP", Severity.HOLD,
                            f"command stream velocity {r:.1f}x the limit")
                self.counters.rejected += 1
                return None
        if self.effort_mask.any():
            r = ratio_over(tau_cmd[self.effort_mask], self.lim.effort_max[self.effort_mask])
            if r > self.cfg.effort_hold_ratio:
                self._fault(now_s, "EFFORT_LIMIT", Severity.HOLD, f"effort {r:.2f}x the limit")
                self.counters.rejected += 1
                return None
        q_gate = self._table_wall(now_s, q_cmd)
        if q_gate is None:
            self.counters.rejected += 1
            return None
        prev_gate, self._last_gate_q = self._last_gate_q, q_gate
        v_ff = None
        if prev_gate is not None and state != State.READY:  # the gated stream's own velocity
            v_ff = (q_gate - prev_gate) / max(self.dt, stamp_s - prev_stamp)
            v_ff = np.where(np.abs(v_ff) <= self.lim.vel_max, v_ff, 0.0)  # a jump: no feed-forward
        return self._advance(now_s, q_gate, tau_cmd, v_ff)

    def _table_wall(self, now_s: float, q_cmd: np.ndarray) -> np.ndarray | None:
        """``q_cmd`` with each arm whose finger tips are below the table plane + margin moved
        onto it (+ a cushion): a grasp that presses a little into the table touches it instead
        of stopping the robot. A command deeper than ``table_wall_depth_m`` is not a contact:
        TABLE_PLANE (STOP) and None."""
        if self.geometry is None or self.cfg.table_wall_depth_m <= 0:
            return q_cmd
        plane = self.cfg.table_z_m + self.cfg.ee_table_margin_m
        q, depth = self._onto_wall(q_cmd, plane + WALL_CUSHION_M)
        self._cmd_tip_depth_m = depth - WALL_CUSHION_M
        if q is None:
            self._warn(now_s, "TABLE_WALL", None)
            return q_cmd
        if self._cmd_tip_depth_m > self.cfg.table_wall_depth_m:
            if self.stream is not None and \
                    self._cmd_tip_depth_m <= float(np.max(self.geofence_excess(self.stream.q)[0])) + 1e-9:
                return q_cmd  # not deeper than the output: coming back up after a stop
            self._fault(now_s, "TABLE_PLANE", Severity.STOP,
                        f"command finger tips {self._cmd_tip_depth_m * 1e3:.1f} mm below table "
                        f"{self.cfg.table_z_m:.3f} + {self.cfg.ee_table_margin_m} m (the wall "
                        f"holds up to {self.cfg.table_wall_depth_m * 1e3:.0f} mm)")
            return None
        self.counters.clamped += 1
        self.counters.extra["table_wall"] = self.counters.extra.get("table_wall", 0) + 1
        self._warn(now_s, "TABLE_WALL", "command below the table plane: held on it")
        return q

    def _table_brake_band(self, v: np.ndarray, a: np.ndarray, dt: float
                          ) -> tuple[np.ndarray, np.ndarray] | None:
        """Braking room above the table plane for the output's next step ``v`` (acceleration
        ``a``) from the last output, or None when it has enough.

        The limiter brakes each joint at its own acceleration limit, so when the command stops
        abruptly (on the table wall) a joint with a low limit runs on after the joints that
        compensated its descent have stopped (Franka: joint 2, 7.5 rad/s^2, against joints 4/6):
        the tips sank 7.6 mm past a command stopped on the wall (test_table_wall_braking; the
        graph's TABLE_PLANE stops of issue #8). The tips' height after such
        a stop is at most the current height minus ``sum |dz/dq_i| * braking_travel_i`` over the
        joints whose motion lowers them; where that would reach below the plane + margin those
        joints' velocities are scaled down by one factor per arm (a velocity band the limiter
        meets as fast as its acceleration and jerk limits allow).
        """
        if self.geometry is None:
            return None
        s = self.stream
        room = self._fence(s.q)[1] - (self.cfg.table_z_m + self.cfg.ee_table_margin_m)
        room = TABLE_BRAKE_ROOM_FRACTION * np.maximum(room, 0.0)
        arm = self._arm_idx
        va = v[arm]
        av = np.abs(va)
        # quick bound (jerk ramp at its longest, the largest lever): far above the table the
        # tips cannot reach the plane and no Jacobian is needed
        if np.all(self._tip_lever * float(av @ (dt + self._ramp_max) + (av * av) @ self._inv_2acc)
                  <= room):
            return None
        travel = braking_travel(v, a, self.lim, dt)[arm]
        _, grad = self.geometry.tip_height_gradient(s.q[arm], s.q[self._grip_idx])
        lo, hi = np.full(self.n, -np.inf), np.full(self.n, np.inf)
        stop = av * av * self._inv_2acc  # the part of travel quadratic in v
        for k, g in enumerate(grad):
            down = g * va < 0.0                     # these joints lower the tips
            d = np.abs(g) * down
            if float(d @ travel) <= room[k]:
                continue
            # one factor sig on the lowering joints: sum d_i travel_i(sig v) = room
            qa, la = float(d @ stop), float(d @ (travel - stop))
            sig = 2.0 * room[k] / (la + math.sqrt(la * la + 4.0 * qa * room[k]))
            cap = sig * va
            idx = arm[down]
            lo[idx] = np.where(va[down] < 0, cap[down], -np.inf)
            hi[idx] = np.where(va[down] > 0, cap[down], np.inf)
        if np.all(np.isinf(lo)) and np.all(np.isinf(hi)):
            return None
        self.counters.extra["table_brake"] = self.counters.extra.get("table_brake", 0) + 1
        return lo, hi

    def _output_on_wall(self, q, v, a, dt: float):
        """The limited output lags the command (jerk limits, late commands) and its joint-space
        path can dip below the plane that the command sits on: move it back onto the plane when
        that stays within the velocity and acceleration limits (else it is left as it is and
        the TABLE_PLANE check decides)."""
        if self.geometry is None or self.cfg.table_wall_depth_m <= 0:
            return q, v, a
        plane = self.cfg.table_z_m + self.cfg.ee_table_margin_m
        low = self.geofence_excess(q)[3]
        if not np.any(low < plane):
            return q, v, a
        q_wall, _ = self._onto_wall(q, plane + 0.1 * WALL_CUSHION_M, low)
        if q_wall is None:
            return q, v, a
        s = self.stream
        v_wall = (q_wall - s.q) / dt
        a_wall = (v_wall - s.v) / dt
        if ratio_over(v_wall, self.lim.vel_max) > 1.0 or ratio_over(a_wall, self.lim.acc_max) > 1.0:
            return q, v, a
        self.counters.extra["table_wall_output"] = self.counters.extra.get("table_wall_output", 0) + 1
        return q_wall, v_wall, a_wall

    def _onto_wall(self, q_in: np.ndarray, wall_z: float, low0: np.ndarray | None = None
                   ) -> tuple[np.ndarray | None, float]:
        """Move the arms whose lowest finger tip is below ``wall_z`` onto it: minimum-norm
        arm-joint steps along the tip height's gradient, a few Newton iterations (the lowest
        vertex can switch).

        ``low0``: the lowest tip heights of ``q_in`` if already known (no Jacobian is computed
        when nothing is below the wall).

        Returns:
            ``(q, depth)``: the moved configuration (None when nothing is below) and the
            largest depth below ``wall_z`` of ``q_in`` (m, negative = above).
        """
        qa, qg = q_in[self._arm_idx].copy(), q_in[self._grip_idx]
        if low0 is None:
            low0 = self.geometry.fence_points(qa, qg)[1]
        depth = float(np.max(wall_z - low0))
        if depth <= 0.0:
            return None, depth
        for it in range(WALL_ITERATIONS):
            low, grad = self.geometry.tip_height_gradient(qa, qg)
            e = wall_z - low  # > 0: below the wall by e
            below = e > 0.0
            if not below.any():
                break
            for k in np.flatnonzero(below):
                g = grad[k]
                gg = float(g @ g)
                if gg > 1e-12:
                    qa += g * (e[k] / gg)
        q = q_in.copy()
        q[self._arm_idx] = qa
        return q, depth

    def _validate(self, now_s, stamp_s, names, position, effort):
        q = self._by_name(names, position, "position")
        if isinstance(q, str):
            return q
        if not all_finite(q):
            return "non-finite position"
        tau = np.zeros(self.n)
        if self.effort_mask.any():
            t = self._by_name(names, effort, "effort")
            if isinstance(t, str):
                return t + " (effort-interface DoFs need efforts)"
            if not all_finite(t[self.effort_mask]):
                return "non-finite effort"
            tau = np.where(self.effort_mask, t, 0.0)
        if not math.isfinite(stamp_s):
            return "non-finite stamp"
        if stamp_s > now_s + self.cfg.future_tolerance_s:
            return f"stamp {stamp_s:.4f} is in the future (now {now_s:.4f})"
        if now_s - stamp_s > self.cfg.command_max_age_s:
            return f"stamp {stamp_s:.4f} older than {self.cfg.command_max_age_s} s"
        if self._last_cmd_stamp is not None:
            if stamp_s < self._last_cmd_stamp:
                return f"out-of-order stamp {stamp_s:.4f} < {self._last_cmd_stamp:.4f}"
            if stamp_s == self._last_cmd_stamp:
                self.counters.extra["duplicate_stamp"] = self.counters.extra.get("duplicate_stamp", 0) + 1
                return ""  # duplicate: dropped without a fault
        return q, tau

    def _start_blockers(self, now_s: float) -> str:
        why = []
        if self.js_dog.stale(now_s):
            why.append("joint states stale")
        missing = self.hearts.missing(now_s)
        if missing:
            why.append(f"no heartbeat from {missing}")
        if self._estop_input:
            why.append("e-stop input active")
        if self.geometry is not None:
            if self._last_collision_s is None or \
                    now_s - self._last_collision_s > self.cfg.collision_timeout_s:
                why.append("no fresh collision check")
        return "; ".join(why)

    def _seed_stream(self) -> None:
        # position DoFs continue from the last output (at standstill after a reset) so the first
        # command after a reset cannot jump by the tracking error; the first start uses measured
        q = self.q_meas.copy()
        if self.stream is not None:
            q = np.where(self.effort_mask, q, self.stream.q)
        tau = np.zeros(self.n)
        if self.effort_mask.any():
            if self.tau_meas is not None and all_finite(self.tau_meas):
                tau = np.where(self.effort_mask, self.tau_meas, 0.0)
            elif self.geometry is not None:
                tau[self._arm_idx] = self.geometry.gravity(q[self._arm_idx], q[self._grip_idx])
        if self.stream is not None and self.stream.tau is not None and self.stream.tau.any():
            tau = self.stream.tau.copy()
        self.stream = _Stream(q, np.zeros(self.n), np.zeros(self.n), tau)

    def _period(self, now_s: float) -> float:
        """Time the output stream advances now: the time since the last output, so the limits
        hold in time whatever the command rate (a stack running slower than the configured rate
        still moves at up to the limits); 0 = already published at this clock time.

        After a gap longer than ``command_timeout_s`` (a stall: the robot has been holding the
        last target) the stream restarts from rest (position DoFs: v = a = 0) instead of resuming
        its old speed, and the step is one control period.
        """
        if self._last_out_s is None:
            return self.dt
        gap = now_s - self._last_out_s
        if gap > self.cfg.command_timeout_s and self.stream is not None:
            m = ~self.effort_mask
            self.stream.v[m] = 0.0
            self.stream.a[m] = 0.0
            return self.dt
        return float(max(gap, 0.0))

    def _advance(self, now_s: float, q_cmd: np.ndarray, tau_cmd: np.ndarray,
                 v_ff: np.ndarray | None = None) -> GateOutput | None:
        s = self.stream
        dt = self._period(now_s)
        if dt < 1e-6 * self.dt:
            self.counters.extra["same_time"] = self.counters.extra.get("same_time", 0) + 1
            return None  # a second command at the same clock time: the first one stands
        scale = min(self._scale, self._collision_scale)
        if v_ff is not None and dt > FEEDFORWARD_MAX_PERIODS * self.dt:
            # a late command (starved controller or gate): feed-forward would extrapolate the
            # command's velocity over the whole gap and overshoot it (seen: finger tips 5-8 mm
            # past a command resting on the table wall); aim at the command instead
            v_ff = None
        q, v, a, frac = limit_step(q_cmd, s.q, s.v, s.a, self.lim, dt, scale, self.margin, v_ff)
        band = self._table_brake_band(v, a, dt)
        if band is not None:  # too fast to stop above the table: slow the tips' descent
            q, v, a, frac = limit_step(q_cmd, s.q, s.v, s.a, self.lim, dt, scale, self.margin,
                                       v_ff, band)
        tau, r_eff = (limit_effort(tau_cmd, s.tau, self.lim, dt) if self.effort_mask.any()
                      else (np.zeros(self.n), 0.0))
        tau = np.where(self.effort_mask, tau, 0.0)
        q, v, a = self._output_on_wall(q, v, a, dt)
        geo = self._geofence(now_s, q)
        if geo:
            return None  # faulted; the hold ramp continues from the last output
        clamped = frac < 1.0 - 1e-9 or r_eff > 1.0
        self.counters.clamped += int(clamped)
        self._warn(now_s, "CLAMPED", "command clamped to the motion limits" if clamped else None)
        self.counters.forwarded += 1
        return self._emit(q, v, a, tau, now_s)

    def _fence(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-effector positions and lowest finger heights of ``q`` (one FK pass, cached: the
        output is checked again as the next command's last output)."""
        key = q.tobytes()
        hit = self._fence_cache.get(key)
        if hit is None:
            hit = self.geometry.fence_points(q[self._arm_idx], q[self._grip_idx])
            if len(self._fence_cache) >= 4:
                self._fence_cache.pop(next(iter(self._fence_cache)))
            self._fence_cache[key] = hit
        return hit

    def geofence_excess(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per arm: how far its lowest finger point is below the table plane + margin, how far its
        end effector is outside its workspace box (m, 0 = inside), the end-effector positions and
        the lowest finger heights."""
        ee, low = self._fence(q)
        table = np.maximum(0.0, self.cfg.table_z_m + self.cfg.ee_table_margin_m - low)
        box = np.max(np.maximum(np.maximum(self._box_lo - ee, ee - self._box_hi), 0.0), axis=1)
        return table, box, ee, low

    def _geofence(self, now_s: float, q: np.ndarray) -> bool:
        """True (and a fault) when ``q`` takes an arm's finger tips further below the table plane
        or its end effector further out of its workspace box than the last output did. Moving
        back in, or standing still, is allowed so that a stream braked to a stop just outside can
        be recovered after a reset."""
        if self.geometry is None:
            return False
        table, box, p, low = self.geofence_excess(q)
        if not table.any() and not box.any():
            return False
        t0, b0, _, _ = self.geofence_excess(self.stream.q)
        tol = WALL_OUTPUT_TOLERANCE_M if self.cfg.table_wall_depth_m > 0 else 0.0
        worse = (table > t0 + 1e-9) & (table > tol)
        if worse.any():
            a = int(np.argmax(worse))
            self._fault(now_s, "TABLE_PLANE", Severity.STOP,
                        f"{self._arm_names[a]} finger tips z {low[a]:.4f} below table "
                        f"{self.cfg.table_z_m:.3f} + {self.cfg.ee_table_margin_m} m (command "
                        f"{self._cmd_tip_depth_m * 1e3:.1f} mm below it)")
            return True
        worse = box > b0 + 1e-9
        if worse.any():
            a = int(np.argmax(worse))
            self._fault(now_s, "GEOFENCE", Severity.HOLD,
                        f"{self._arm_names[a]} end effector {np.round(p[a], 3).tolist()} outside "
                        f"its workspace box")
            return True
        return False

    def _emit(self, q, v, a, tau, now_s: float) -> GateOutput:
        self.stream = _Stream(q, v, a, tau)
        self._last_out_s = now_s
        arrays = []
        for idx, is_eff in zip(self._out_idx, self._out_effort):
            arrays.append((tau if is_eff else q)[idx].copy())
        return GateOutput(self.topics, tuple(arrays), q.copy(), tau.copy())

    # ----------------------------------------------------------------- timer
    def tick(self, now_s: float) -> GateOutput | None:
        """Watchdogs and the hold/stop output; call once per control period."""
        st = self.sm.state
        if st != State.INIT and self.js_dog.stale(now_s):
            self._fault(now_s, "JOINT_STATES_STALE", Severity.STOP,
                        f"no /joint_states for {self.js_dog.age_s(now_s):.3f} s")
        if self.sm.state in MOVING:
            self._moving_watchdogs(now_s)
        self._update_degraded(now_s)
        if self.sm.state in LATCHED and self.stream is not None:
            dt = self._period(now_s)
            return self._hold_output(now_s, dt) if dt >= 1e-6 * self.dt else None
        return None

    def _moving_watchdogs(self, now_s: float) -> None:
        if self.cmd_dog.stale(now_s):
            self._fault(now_s, "COMMAND_STALE", Severity.HOLD,
                        f"no controller command for {self.cmd_dog.age_s(now_s):.3f} s")
        if self.action_dog.stale(now_s):
            self._fault(now_s, "ACTION_STALE", Severity.HOLD,
                        f"no System 1 action for {self.action_dog.age_s(now_s):.3f} s")
        missing = self.hearts.missing(now_s)
        if missing:
            self._fault(now_s, "HEARTBEAT_MISSING", Severity.HOLD, f"no heartbeat from {missing}")
        if self.geometry is not None and (self._last_collision_s is None or
                                          now_s - self._last_collision_s > self.cfg.collision_timeout_s):
            self._fault(now_s, "COLLISION_CHECK_STALE", Severity.HOLD, "collision check not running")

    def _update_degraded(self, now_s: float) -> None:
        stale = self.latent_dog.stale(now_s)
        if stale and self.sm.state == State.RUNNING:
            self.sm.degrade(now_s, f"LATENT_STALE: System 2 latent {self.latent_dog.age_s(now_s):.2f} s old")
            self._degraded_since = now_s
            self._warn(now_s, "LATENT_STALE", "System 2 latent stale: finishing chunk, then slowing")
        if self.sm.state == State.DEGRADED:
            if not stale:
                self.sm.recover(now_s, "System 2 latent fresh again")
                self._warn(now_s, "LATENT_STALE", None)
                self._scale, self._degraded_since = 1.0, None
                return
            t = now_s - self._degraded_since - self.cfg.latent_grace_s
            self._scale = float(np.clip(1.0 - t / self.cfg.slowdown_s, 0.0, 1.0))
            if self._scale <= 0.0:
                self._fault(now_s, "LATENT_STALE", Severity.HOLD,
                            "System 2 latent stale past grace and slow-down")
        elif self.sm.state not in LATCHED:
            self._scale = 1.0

    def _hold_output(self, now_s: float, dt: float, decel: float | None = None) -> GateOutput:
        s = self.stream
        q, v, a = brake_step(s.q, s.v, s.a, self.lim, dt, decel or self._decel)
        tau = np.zeros(self.n)
        if self.effort_mask.any():
            m = self.effort_mask
            q_meas = self.q_meas if self.q_meas is not None else q
            v_meas = self.v_meas if self.v_meas is not None else np.zeros(self.n)
            if self.geometry is not None and self.cfg.hold_gravity_compensation:
                g = np.zeros(self.n)
                g[self._arm_idx] = self.geometry.gravity(q_meas[self._arm_idx], q_meas[self._grip_idx])
                tau[m] = g[m]
            tau[m] += self._k * (q[m] - q_meas[m]) + self._d * (v[m] - v_meas[m])
            tau, _ = limit_effort(tau, s.tau, self.lim, dt)
            tau = np.where(m, tau, 0.0)
        self.counters.hold_outputs += decel is None
        return self._emit(q, v, a, tau, now_s)

    @property
    def standstill(self) -> bool:
        return self.stream is None or not np.any(self.stream.v)

    # ----------------------------------------------------------------- collision (slow rate)
    def collision_query(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Arm positions and gripper widths to check (the last output), or None."""
        if self.geometry is None:
            return None
        q = self.stream.q if self.stream is not None else self.q_meas
        if q is None:
            return None
        return q[self._arm_idx].copy(), q[self._grip_idx].copy()

    def on_collision(self, now_s: float, d: Distances) -> None:
        """Apply a collision result computed (outside any lock) from :meth:`collision_query`."""
        c = self.cfg
        self.last_distances = d
        self._last_collision_s = now_s
        prev, self._prev_distances = self._prev_distances, d
        # inside a stop distance only approaching is a fault, so after a reset the arm can move
        # out of it (standing still or moving away is allowed)
        def closer(now_m, before_m):
            return before_m is None or now_m < before_m - 1e-6
        if d.self_min_m < c.self_stop_distance_m and closer(
                d.self_min_m, None if prev is None else prev.self_min_m):
            self._fault(now_s, "SELF_COLLISION", Severity.STOP,
                        f"{d.self_pair} {d.self_min_m:.4f} m < {c.self_stop_distance_m} m")
        if d.env_min_m < c.env_stop_distance_m and closer(
                d.env_min_m, None if prev is None else prev.env_min_m):
            self._fault(now_s, "ENV_COLLISION", Severity.STOP,
                        f"{d.env_pair} {d.env_min_m:.4f} m < {c.env_stop_distance_m} m")
        s_self = np.clip((d.self_min_m - c.self_stop_distance_m) /
                         (c.self_slow_distance_m - c.self_stop_distance_m), 0.0, 1.0)
        s_env = np.clip((d.env_min_m - c.env_stop_distance_m) /
                        (c.env_slow_distance_m - c.env_stop_distance_m), 0.0, 1.0)
        # never 0 in the slow zone, so the policy can still move away
        self._collision_scale = float(max(min(s_self, s_env), 0.05))
        self._warn(now_s, "COLLISION_SLOW_ZONE",
                   f"slowing to {self._collision_scale:.2f} ({d.self_pair} {d.self_min_m:.3f} m, "
                   f"{d.env_pair} {d.env_min_m:.3f} m)" if self._collision_scale < 1.0 else None)

    def check_collision(self, now_s: float) -> Distances | None:
        """Run the (slow) collision check in-line: for tests and single-threaded use."""
        qw = self.collision_query()
        if qw is None:
            return None
        d = self.geometry.distances(*qw)
        self.on_collision(now_s, d)
        return d

    # ----------------------------------------------------------------- reset and status
    def health_problems(self, now_s: float) -> str:
        why = []
        if self.js_dog.stale(now_s):
            why.append("joint states stale")
        if self._estop_input:
            why.append("e-stop input still active")
        for dog in (self.action_dog, self.latent_dog):
            if dog.armed and dog.stale(now_s):
                why.append(f"{dog.name} stale")
        missing = self.hearts.missing(now_s)
        if missing:
            why.append(f"no heartbeat from {missing}")
        if not self.standstill:
            why.append("stop ramp still running")
        if self.q_meas is not None and np.max(position_excess(
                self.q_meas, self.lim.pos_min, self.lim.pos_max)) > self.cfg.measured_pos_tolerance_rad:
            why.append("measured position outside limits")
        return "; ".join(why)

    def reset(self, now_s: float) -> tuple[bool, str]:
        """Operator reset (service): leave HOLD/STOPPED/ESTOP for READY if inputs are healthy."""
        why = self.health_problems(now_s)
        ok, msg = self.sm.reset(now_s, not why, why)
        if ok:
            self.faults = {k: f for k, f in self.faults.items() if f.severity == Severity.WARN}
            self._scale, self._degraded_since = 1.0, None
            self._last_cmd_q = self._last_gate_q = None
            self.cmd_dog.disarm()
        return ok, msg

    def status(self) -> Status:
        st = self.sm.state
        if st in LATCHED or st in (State.INIT, State.READY):
            scale = 0.0
        else:
            scale = min(self._scale, self._collision_scale)
        return Status(st, sorted(self.faults.values(), key=lambda f: -f.severity),
                      self.sm.transition_count, self.sm.last_reason, scale)

    def step(self, now_s: float, measured=None, command=None) -> tuple[GateOutput | None, Status]:
        """Convenience one-call form: ``measured`` = (names, pos[, vel[, eff]]),
        ``command`` = (stamp_s, names, pos[, effort]). Returns (output or None, status)."""
        out = None
        if measured is not None:
            self.on_joint_states(now_s, *measured)
        if command is not None:
            out = self.on_command(now_s, *command)
        t = self.tick(now_s)
        return (t if t is not None else out), self.status()
