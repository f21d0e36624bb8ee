"""Fault-injection matrix for the supervisor core (ROS-free).

Each case drives the real :class:`Supervisor` period by period in sim time (no wall clock):
a perfectly tracking plant (measured = last output), a nominal controller stream, System 1/2
streams and heartbeats, then injects one fault (or a combination) and records every output.
:func:`evaluate` asserts: no output outside the limits, the response began within its bound
(counted in control periods), a latched response needs a reset and recovers after one.

``python -m vla_safety.fault_matrix --write-doc docs/SAFETY.md`` regenerates the doc table.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vla_safety.config import SupervisorConfig
from vla_safety.state_machine import LATCHED, State
from vla_safety.supervisor import Supervisor

MATRIX_CFG = dict(control_period_s=0.002, watched_nodes=("vla_controller",), heartbeat_timeout_s=0.3,
                  workspace_min_m=(0.0, -0.25, -0.1), workspace_max_m=(0.8, 0.25, 1.0))
_GEOMETRY = {}


def matrix_config(mode: str = "sim", robot: str = "franka", **over) -> SupervisorConfig:
    """Matrix thresholds: Franka's matrix boxes; ALOHA's geometric thresholds from its params file."""
    base = dict(MATRIX_CFG)
    if robot == "aloha":
        base.update(ALOHA_GEOMETRY_CFG)
    return SupervisorConfig(**{**base, **over})


ALOHA_GEOMETRY_CFG = {}
try:  # the deployed ALOHA geometric thresholds (config/aloha_sim.yaml), so the matrix tests them
    from vla_safety.expert_replay import params_config as _pc
    _a = _pc("aloha")
    ALOHA_GEOMETRY_CFG = {k: getattr(_a, k) for k in (
        "workspace_min_m", "workspace_max_m", "table_z_m", "ee_table_margin_m", "self_stop_distance_m",
        "self_slow_distance_m", "env_stop_distance_m", "env_slow_distance_m", "geometry_enabled")}
except (OSError, KeyError, ValueError):  # no config dir: the ALOHA cases fail loudly later
    pass


def robot_geometry(robot):
    if robot.robot not in _GEOMETRY:
        from vla_safety.collision import build_geometry
        _GEOMETRY[robot.robot] = build_geometry(robot)
    return _GEOMETRY[robot.robot]


franka_geometry = robot_geometry


def home_q(robot, grip_m: float = 0.04) -> np.ndarray:
    """Command-order home: each arm's home joints then its gripper at ``grip_m``."""
    return np.concatenate([np.append(a.home_rad, grip_m) if a.gripper is not None else a.home_rad
                           for a in robot.arms])


@dataclass
class World:
    """The supervisor plus everything around it, stepped one control period at a time."""
    sup: Supervisor
    robot: object
    k: int = 0
    js_alive: bool = True
    js_corrupt: Callable | None = None
    cmd_alive: bool = True
    action_alive: bool = True
    latent_alive: bool = True
    heart_alive: bool = True
    cmd_fn: Callable | None = None       # (world, now, q_nominal) -> (stamp, names, pos, eff)
    nominal: Callable | None = None      # now -> q target
    log: list = field(default_factory=list)
    codes: set = field(default_factory=set)
    reasons: dict = field(default_factory=dict)   # first reason seen per fault code
    q_meas: np.ndarray | None = None
    v_meas: np.ndarray | None = None

    @property
    def dt(self) -> float:
        return self.sup.dt

    @property
    def now(self) -> float:
        return 1.0 + self.k * self.dt

    def measured(self):
        names = list(self.sup.names)
        q = self.q_meas.copy()
        v = self.v_meas.copy()
        if self.js_corrupt is not None:
            return self.js_corrupt(names, q, v)
        return names, q, v, self.sup.stream.tau.copy() if self.sup.stream else np.zeros(len(q))

    def default_cmd(self, now):
        q = self.nominal(now)
        tau = np.zeros(len(q))
        if self.sup.effort_mask.any() and self.sup.geometry is not None:
            m = self.sup.effort_mask
            g = self.sup.geometry.gravity(self.q_meas[self.sup._arm_idx], self.q_meas[self.sup._grip_idx])
            tau[self.sup._arm_idx] = g
            tau[m] += 30.0 * (q[m] - self.q_meas[m])
            tau = np.where(m, tau, 0.0)
        return now, list(self.sup.names), q, tau

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            now = self.now
            s = self.sup
            if self.heart_alive and self.k % 50 == 0:
                s.on_heartbeat(now, "vla_controller")
            if self.action_alive and self.k % 2 == 0:
                s.on_action(now)
            if self.latent_alive and self.k % 25 == 0:
                s.on_latent(now, now - 0.05)
            if self.js_alive:
                s.on_joint_states(now, *self.measured())
            if s.geometry is not None and self.k % 10 == 0:
                s.check_collision(now)
            out = None
            if self.cmd_alive:
                cmd = (self.cmd_fn or (lambda w, t, d: d(t)))(self, now, self.default_cmd)
                if cmd is not None:
                    out = s.on_command(now, *cmd)
            t_out = s.tick(now)
            for o in (out, t_out):
                if o is not None:
                    self.log.append((self.k, o.position, o.effort, s.state))
                    # perfect position tracking (effort DoFs too: the matrix checks the gate)
                    self.v_meas = (o.position - self.q_meas) / self.dt
                    self.q_meas = o.position.copy()
            if out is None and t_out is None:
                self.v_meas = np.zeros_like(self.q_meas)
            self.log.append((self.k, None, None, s.state))
            self.codes.update(s.faults)
            for c, f in s.faults.items():
                self.reasons.setdefault(c, getattr(f, "reason", ""))
            self.k += 1

    def run_s(self, seconds: float) -> None:
        self.step(int(round(seconds / self.dt)))

    def first_k(self, states, since: int) -> int | None:
        for k, pos, _, st in self.log:
            if k >= since and st in states:
                return k
        return None


ALOHA_SHAPE = (0.3, 0.2, 0.2, 0.3, 0.3, 0.3, 0.0) * 2


def make_world(mode: str = "sim", cfg_over: dict | None = None, amp: float = 0.25,
               freq_hz: float = 0.5, shape=(1.0, 0.3, 0.5, 0.4, 1.0, 0.5, 1.0, 0.0),
               robot: str = "franka") -> World:
    from vla_common.config import load_robot_config
    rc = load_robot_config(robot, mode)
    cfg = matrix_config(mode, robot, **(cfg_over or {}))
    sup = Supervisor(rc, cfg, robot_geometry(rc) if cfg.geometry_enabled else None)
    home = home_q(rc)
    if robot == "aloha":
        shape = ALOHA_SHAPE
    w = World(sup, rc)
    w.q_meas, w.v_meas = home.copy(), np.zeros(len(home))
    t0 = w.now
    shape = np.asarray(shape, dtype=float)

    def nominal(now):  # smooth start (1 - cos), then a sinusoid
        return home + amp * shape * (1 - np.cos(2 * math.pi * freq_hz * (now - t0))) / 2
    w.nominal = nominal
    w.run_s(0.2)
    assert sup.state == State.RUNNING, f"warm-up did not reach RUNNING: {sup.status()}"
    return w


@dataclass
class CaseResult:
    name: str
    check: str
    expect: str
    state: str
    codes: list
    detect_periods: int | None
    bound_periods: int | None
    standstill_periods: int | None
    outputs: int
    within_limits: bool
    limit_detail: str
    reset_needed: bool | None
    recovered: bool | None
    ok: bool
    level: str = "core"


def check_sequence(samples: list, w: World, mask: np.ndarray | None = None) -> tuple[bool, str]:
    """Limit check of node-level messages ``(arrival step, q)`` in arrival order. The outputs
    carry no stamp and the limiter works over the node's own clock, so the time between two
    messages is only known to one period: position must be within limits and each step within
    ``vel_max * dt * (steps between arrivals + 1)``. Acceleration and jerk are asserted at core
    level, where time is exact (same limiter code)."""
    s, dt = w.sup, w.sup.dt
    lim, pm = s.lim, ~s.effort_mask
    if mask is not None:
        pm = pm & mask
    worst = {"pos": 0.0, "vel": 0.0}
    for (k0, p0), (k1, p1) in zip(samples, samples[1:]):
        p0, p1 = p0[pm], p1[pm]
        worst["pos"] = max(worst["pos"], float(np.max(np.maximum(lim.pos_min[pm] - p1,
                                                                 p1 - lim.pos_max[pm]))))
        span = dt * (max(k1 - k0, 0) + 1)
        worst["vel"] = max(worst["vel"], float(np.max(np.abs(p1 - p0) / (lim.vel_max[pm] * span))) - 1.0)
    bad = {k: x for k, x in worst.items() if x > 1e-6}
    return (not bad, ", ".join(f"{k} over by {x:.3g}" for k, x in bad.items()) or "ok")


def check_outputs(w: World, since: int = 0) -> tuple[bool, str]:
    """Every published command within position/velocity/acceleration limits (position DoFs) and
    effort/effort-rate limits (effort DoFs), per control period of sim time.

    Velocity and acceleration are taken between consecutive published samples over the sim time
    between them. After a gap longer than ``command_timeout_s`` (a stall: the robot's forward
    controller held the last target) the derivative history restarts from rest, as the
    supervisor's does.
    """
    if getattr(w, "sequences", None) is not None:
        checks = [check_sequence(seq, w, w.sequence_masks[t]) for t, seq in w.sequences.items()]
        bad = [f"{t}: {d}" for (ok, d), t in zip(checks, w.sequences) if not ok]
        return (not bad, "; ".join(bad) or "ok")
    s, dt = w.sup, w.sup.dt
    lim = s.lim
    pm, em = ~s.effort_mask, s.effort_mask
    last = {}
    for k, p, e, _ in w.log:  # the last sample published in a period is what the robot keeps
        if p is not None:
            last[k] = (p, e)
    worst = {"pos": 0.0, "vel": 0.0, "acc": 0.0, "eff": 0.0, "eff_rate": 0.0}
    prev_k = prev_p = prev_e = None
    v_prev = None
    for k in sorted(last):
        p, e = last[k][0][pm], last[k][1][em]
        worst["pos"] = max(worst["pos"], float(np.max(np.maximum(lim.pos_min[pm] - p,
                                                                 p - lim.pos_max[pm]))))
        if e.size:
            worst["eff"] = max(worst["eff"], float(np.max(np.abs(e) / lim.effort_max[em])) - 1.0)
        if prev_k is not None:
            gap = k - prev_k
            v = (p - prev_p) / (gap * dt)
            worst["vel"] = max(worst["vel"], float(np.max(np.abs(v) / lim.vel_max[pm])) - 1.0)
            rest = gap * dt > s.cfg.command_timeout_s + 1e-9 or v_prev is None
            v0 = np.zeros_like(v) if rest else v_prev
            worst["acc"] = max(worst["acc"], float(np.max(np.abs(v - v0) / (gap * dt) /
                                                          lim.acc_max[pm])) - 1.0)
            if e.size:
                worst["eff_rate"] = max(worst["eff_rate"], float(np.max(
                    np.abs(e - prev_e) / (lim.effort_rate_max[em] * dt * gap))) - 1.0)
            v_prev = v
        prev_k, prev_p, prev_e = k, p, e
    bad = {k: x for k, x in worst.items() if x > 1e-6}
    return (not bad, ", ".join(f"{k} over by {x:.3g}" for k, x in bad.items()) or "ok")


# --------------------------------------------------------------------------- the cases
CASES: dict[str, tuple[str, str, Callable]] = {}


def case(name: str, check: str, expect: str):
    def deco(fn):
        CASES[name] = (check, expect, fn)
        return fn
    return deco


def _with(w, f):
    """Command through ``f(now, stamp, names, q, tau) -> command tuple``."""
    w.cmd_fn = lambda w_, now, d: f(now, *d(now))


def _offset(j, delta_fn):
    def f(now, stamp, names, q, tau):
        q = q.copy()
        q[j] += delta_fn(now)
        return stamp, names, q, tau
    return f


@case("position_over_limit_clamped", "position + margin", "clamp")
def _c(w):
    t0 = w.now
    _with(w, _offset(6, lambda t: 2.0 * (t - t0)))  # J7 driven past +2.8973 at 2 rad/s
    w.run_s(1.6)


@case("velocity_over_limit_clamped", "velocity", "clamp")
def _c(w):
    t0 = w.now
    _with(w, _offset(6, lambda t: -1.7 * 2.61 * (t - t0)))  # 1.7x J7 speed limit
    w.run_s(0.4)


@case("acceleration_step_clamped", "acceleration", "clamp")
def _c(w):
    t0 = w.now
    _with(w, _offset(1, lambda t: 2.0 * (t - t0) if t - t0 < 0.2 else 0.4 - 2.0 * (t - t0 - 0.2)))
    w.run_s(0.4)


@case("jerk_reversal_clamped", "jerk", "clamp")
def _c(w):
    t0 = w.now
    _with(w, _offset(3, lambda t: 0.002 * (-1) ** int((t - t0) / 0.002)))  # chatter
    w.run_s(0.2)


@case("command_jump_holds", "velocity (jump)", "HOLD")
def _c(w):
    _with(w, _offset(2, lambda t: 0.5))


@case("geofence_exit_holds", "workspace box", "HOLD")
def _c(w):
    t0 = w.now
    _with(w, _offset(0, lambda t: 1.5 * (t - t0)))  # EE sweeps sideways out of |y| < 0.25
    w.run_s(1.0)


@case("table_plane_stops", "table plane / env collision", "STOPPED")
def _c(w):
    t0 = w.now
    _with(w, _offset(1, lambda t: 1.5 * (t - t0)))  # shoulder forward: hand dives to the table
    w.run_s(1.2)


@case("self_collision_stops", "self-collision", "STOPPED")
def _c(w):
    t0 = w.now

    def f(now, stamp, names, q, tau):
        s = min(1.0, (now - t0) / 1.2)
        q = q.copy()
        q[5] += s * (0.0125 - q[5])
        q[6] += s * (2.8673 - q[6])
        return stamp, names, q, tau
    _with(w, f)
    w.run_s(1.5)


@case("nan_position_holds", "non-finite", "HOLD")
def _c(w):
    _with(w, _offset(3, lambda t: float("nan")))


@case("inf_position_holds", "non-finite", "HOLD")
def _c(w):
    _with(w, _offset(0, lambda t: float("inf")))


@case("wrong_size_holds", "wrong size", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st, names, q[:-1], tau))


@case("unknown_joint_name_holds", "unknown name", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st, names[:-1] + ["mystery_joint"], q, tau))


@case("missing_duplicate_name_holds", "duplicate name", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st, names[:-1] + [names[0]], q, tau))


@case("reordered_names_mapped_by_name", "reordered names", "run")
def _c(w):
    def f(now, st, names, q, tau):
        p = np.arange(len(names))[::-1]
        return st, [names[i] for i in p], q[p], tau[p]
    _with(w, f)
    w.run_s(0.3)


@case("out_of_order_stamp_holds", "out-of-order stamp", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st - 0.03, names, q, tau))  # older than the last


@case("future_stamp_holds", "future stamp", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st + 0.5, names, q, tau))


@case("old_stamp_holds", "stale stamp", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st - 0.5, names, q, tau))


@case("joint_states_stale_stops", "watchdog /joint_states", "STOPPED")
def _c(w):
    w.js_alive = False


@case("joint_states_nan_stops", "measured non-finite", "STOPPED")
def _c(w):
    def corrupt(names, q, v):
        q = q.copy()
        q[2] = float("nan")
        return names, q, v, np.zeros(len(q))
    w.js_corrupt = corrupt


@case("joint_states_missing_joint_stops", "measured names", "STOPPED")
def _c(w):
    w.js_corrupt = lambda names, q, v: (names[1:], q[1:], v[1:], np.zeros(len(q) - 1))


@case("measured_position_out_of_limits_stops", "measured position", "STOPPED")
def _c(w):
    def corrupt(names, q, v):
        q = q.copy()
        q[3] = w.sup.lim.pos_max[3] + 0.2
        return names, q, v, np.zeros(len(q))
    w.js_corrupt = corrupt


@case("measured_overspeed_stops", "measured velocity", "STOPPED")
def _c(w):
    def corrupt(names, q, v):
        v = v.copy()
        v[0] = 2.0 * w.sup.lim.vel_max[0]
        return names, q, v, np.zeros(len(q))
    w.js_corrupt = corrupt


@case("command_stale_holds", "watchdog controller command", "HOLD")
def _c(w):
    w.cmd_alive = False


@case("action_stale_holds", "watchdog System 1 action", "HOLD")
def _c(w):
    w.action_alive = False


@case("latent_stale_degrades_then_holds", "watchdog System 2 latent", "DEGRADED->HOLD")
def _c(w):
    w.latent_alive = False


@case("latent_returns_in_grace_resumes", "watchdog System 2 latent", "DEGRADED->run")
def _c(w):
    w.latent_alive = False
    w.run_s(w.sup.cfg.latent_timeout_s + 0.25)
    w.latent_alive = True
    w.run_s(0.1)


@case("heartbeat_missing_holds", "watchdog heartbeat", "HOLD")
def _c(w):
    w.heart_alive = False


@case("estop_estops", "e-stop", "ESTOP")
def _c(w):
    w.sup.estop(w.now, "operator e-stop (matrix)")


@case("estop_service_estops", "e-stop service", "ESTOP")
def _c(w):
    w.sup.estop(w.now, "operator e-stop service (matrix)")


@case("estop_held_refuses_reset", "e-stop + reset", "ESTOP")
def _c(w):
    w.sup.estop(w.now, "operator e-stop (matrix)")
    w.run_s(0.5)
    ok, _ = w.sup.reset(w.now)
    assert not ok, "reset accepted while the e-stop input is still active"
    w.sup.estop(w.now, "released", active=False)


@case("stall_during_fast_motion_holds", "stall + fast motion", "HOLD")
def _c(w):
    w.cmd_alive = False


@case("jump_and_joint_states_loss_stops", "jump + /joint_states stale", "STOPPED")
def _c(w):
    _with(w, _offset(2, lambda t: 0.5))
    w.step(3)
    w.js_alive = False


@case("effort_over_limit_clamped", "effort", "clamp")
def _c(w):
    t0 = w.now

    def f(now, st, names, q, tau):  # J7 torque ramps (within the rate limit) to 1.2x its limit
        tau = tau.copy()
        tau[6] = min(14.4, 400.0 * (now - t0))
        return st, names, q, tau
    _with(w, f)
    w.run_s(0.3)


@case("effort_far_over_limit_holds", "effort (gross)", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st, names, q, tau + np.r_[200.0, 0, 0, 0, 0, 0, 0, 0]))


@case("effort_rate_step_clamped", "effort rate", "clamp")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st, names, q, tau + np.r_[0, 0, 0, 0, 0, 0, 10.0, 0]))
    w.run_s(0.3)


@case("effort_mode_stall_holds_with_gravity", "effort hold (gravity comp)", "HOLD")
def _c(w):
    w.cmd_alive = False


EFFORT_CASES = {"effort_over_limit_clamped", "effort_far_over_limit_holds",
                "effort_rate_step_clamped", "effort_mode_stall_holds_with_gravity",
                "effort_inf_holds"}
FAST_CASES = {"stall_during_fast_motion_holds"}


@case("effort_inf_holds", "non-finite effort", "HOLD")
def _c(w):
    _with(w, lambda now, st, names, q, tau: (st, names, q, np.where(np.arange(len(tau)) == 1, np.inf, tau)))


# ---- ALOHA (two arms; the arm-arm distance matters most: they share the workspace)
ROBOT_OF: dict[str, str] = {}
CASE_EXTRA: dict[str, tuple[str, Callable]] = {}   # name -> (what, world -> bool), also asserted


def aloha_case(name: str, check: str, expect: str, extra: tuple[str, Callable] | None = None):
    ROBOT_OF[name] = "aloha"
    if extra is not None:
        CASE_EXTRA[name] = extra
    return case(name, check, expect)


def _arm_arm(reason: str) -> bool:
    """A SELF_COLLISION reason naming one left and one right geometry ('left_x/right_y ...')."""
    pair = reason.split(" ")[0].split("/")
    return len(pair) == 2 and {p.split("_")[0] for p in pair} == {"left", "right"}


def _ramp_to(w, targets: dict, duration_s: float):
    """Command the named joints from where the nominal stream is to ``targets`` over
    ``duration_s`` (smoothstep), the others follow the nominal stream."""
    idx = {n: w.sup.names.index(n) for n in targets}
    t0 = w.now
    q0 = w.nominal(t0)

    def f(now, stamp, names, q, tau):
        s = min(1.0, (now - t0) / duration_s)
        s = s * s * (3 - 2 * s)
        q = q.copy()
        for n, i in idx.items():
            q[i] = q0[i] + s * (targets[n] - q0[i])
        return stamp, names, q, tau
    _with(w, f)


@aloha_case("aloha_arms_approach_slow_then_stop", "arm-arm distance", "STOPPED",
            ("slow zone, then a stop on a left/right pair", lambda w: "COLLISION_SLOW_ZONE" in w.codes
             and _arm_arm(w.reasons.get("SELF_COLLISION", ""))))
def _c(w):
    _ramp_to(w, {"left_shoulder": 0.3, "left_elbow": -0.3, "right_shoulder": 0.3,
                 "right_elbow": -0.3}, 1.5)  # both arms stretch into the middle of the table
    w.run_s(2.0)


@aloha_case("aloha_left_geofence_exit_holds", "workspace box (left arm)", "HOLD")
def _c(w):
    _ramp_to(w, {"left_waist": 1.4}, 1.0)   # left hand swings towards the back edge (+y)
    w.run_s(1.2)


@aloha_case("aloha_right_geofence_exit_holds", "workspace box (right arm)", "HOLD")
def _c(w):
    _ramp_to(w, {"right_waist": -1.4}, 1.0)
    w.run_s(1.2)


@aloha_case("aloha_table_plane_stops", "table plane (finger tips)", "STOPPED")
def _c(w):
    _ramp_to(w, {"right_shoulder": 0.9}, 1.0)   # right hand dives onto the table
    w.run_s(1.2)


def _tips_stay_on_wall(w) -> bool:
    """Every sent output's finger tips above table + margin, and the wall was used."""
    outs = [p for _, p, _, _ in w.log if p is not None]
    worst = max(float(np.max(w.sup.geofence_excess(p)[0])) for p in outs)
    return worst <= 1e-6 and "TABLE_WALL" in w.codes  # the code is set only while projecting


TABLE_CONTACT_DEPTH_M = 0.01
CASE_EXTRA["table_contact_held_on_wall"] = (
    "outputs never below the plane + margin, TABLE_WALL seen", _tips_stay_on_wall)


@case("table_contact_held_on_wall", "table plane: grasp pressing 1 cm into it", "clamp")
def _c(w):
    """The hand is lowered straight down (a top-down grasp) until the command's finger tips are
    1 cm below the table plane + margin and kept there while the nominal stream moves: the gate
    keeps the arm running with its finger tips on the wall instead of stopping."""
    import pinocchio as pin
    t0 = w.now
    geo, arm = w.sup.geometry, w.sup._arm_idx
    q0 = w.nominal(t0)
    qp = geo._set(q0[arm], q0[w.sup._grip_idx])
    J = pin.computeFrameJacobian(geo.model, geo.data, qp, geo._ee[0],
                                 pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)[:, geo._arm_v]
    down = np.zeros(w.sup.n)
    down[arm] = np.linalg.pinv(J) @ np.array([0, 0, -1.0, 0, 0, 0])  # joint motion per metre

    def depth(q, s):
        return float(w.sup.geofence_excess(q + s * down)[0][0])

    def f(now, stamp, names, q, tau):
        lo, hi = 0.0, 0.5 * (now - t0)  # metres down at 0.5 m/s
        if depth(q, hi) > TABLE_CONTACT_DEPTH_M:  # bisect the descent that is 1 cm deep
            for _ in range(30):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if depth(q, mid) < TABLE_CONTACT_DEPTH_M else (lo, mid)
        return stamp, names, q + hi * down, tau
    _with(w, f)
    w.run_s(1.5)


GEOFENCE_CASES = {"geofence_exit_holds", "aloha_left_geofence_exit_holds",
                  "aloha_right_geofence_exit_holds"}
SELF_COLLISION_CASES = {"self_collision_stops", "aloha_arms_approach_slow_then_stop"}
GEOMETRIC = GEOFENCE_CASES | SELF_COLLISION_CASES | {"table_plane_stops", "aloha_table_plane_stops"}


def _violates(w: World, name: str, q: np.ndarray) -> bool:
    s, c = w.sup, w.sup.cfg
    qa, qg = q[s._arm_idx], q[s._grip_idx]
    table, box, _, _ = s.geofence_excess(q)
    if name in GEOFENCE_CASES:
        return bool(box.any())
    d = s.geometry.distances(qa, qg)
    if name in SELF_COLLISION_CASES:
        return d.self_min_m < c.self_stop_distance_m
    return d.env_min_m < c.env_stop_distance_m or bool(table.any())


def _since_crossing(w: World, name: str, k_detect: int, window: int = 60) -> int:
    """Periods from the first sent output that crossed the threshold to the detection (0 if
    no sent output crossed: the check caught it on the way)."""
    outs = [(k, p) for k, p, _, _ in w.log if p is not None and k_detect - window <= k < k_detect]
    for k, p in outs:
        if _violates(w, name, p):
            return k_detect - k
    return 0


def bound_periods(w: World, expect: str, name: str) -> int:
    """Detection bound in control periods for each response kind."""
    c, dt = w.sup.cfg, w.dt
    per = {"joint_states_stale_stops": c.joint_states_timeout_s,
           "jump_and_joint_states_loss_stops": c.joint_states_timeout_s,
           "command_stale_holds": c.command_timeout_s,
           "stall_during_fast_motion_holds": c.command_timeout_s,
           "effort_mode_stall_holds_with_gravity": c.command_timeout_s,
           "action_stale_holds": c.action_timeout_s,
           "heartbeat_missing_holds": c.heartbeat_timeout_s,
           "latent_stale_degrades_then_holds": c.latent_timeout_s + c.latent_grace_s + c.slowdown_s,
           "latent_returns_in_grace_resumes": c.latent_timeout_s,
           "table_plane_stops": c.collision_period_s, "self_collision_stops": c.collision_period_s,
           "aloha_arms_approach_slow_then_stop": c.collision_period_s,
           "aloha_table_plane_stops": c.collision_period_s}
    extra = {"heartbeat_missing_holds": 50 * dt, "action_stale_holds": 2 * dt,
             "jump_and_joint_states_loss_stops": 3 * dt,
             "latent_stale_degrades_then_holds": 25 * dt, "latent_returns_in_grace_resumes": 25 * dt}
    return int(math.ceil((per.get(name, 0.0) + extra.get(name, 0.0)) / dt)) + 1


def run_case(name: str, make: Callable = None, level: str = "core") -> CaseResult:
    """Run one case against the core (``make`` = :func:`make_world`) or, with the node-level
    world factory of :mod:`vla_safety.ros_fault_harness`, against the real node over DDS."""
    make = make or make_world
    check, expect, fn = CASES[name]
    mode = "sim_effort" if name in EFFORT_CASES else "sim"
    fast = name in FAST_CASES
    robot = ROBOT_OF.get(name, "franka")
    if fast:  # wrist joints near their speed limit (J5 peak ~2.4 of 2.61 rad/s)
        w = make(mode, amp=1.3, freq_hz=0.6, shape=(0.05, 0.05, 0.05, 0.2, 1.0, 0.3, 1.0, 0.0))
        w.run_s(0.62)
    else:
        w = make(mode, **({"robot": robot} if robot != "franka" else {}))
    k0 = w.k
    fn(w)
    target = {"HOLD": {State.HOLD}, "STOPPED": {State.STOPPED}, "ESTOP": {State.ESTOP},
              "DEGRADED->HOLD": {State.HOLD}, "DEGRADED->run": {State.DEGRADED},
              "clamp": set(), "run": set()}[expect]
    bound = bound_periods(w, expect, name) if target else None
    # let the response finish (stop ramp) while the fault persists
    w.run_s(max(0.0, (bound or 0) * w.dt - (w.k - k0) * w.dt) + w.sup.stop_bound_s + 0.05)
    if name in GEOMETRIC and w.first_k(target, k0) is not None:
        bound = bound_periods(w, expect, name)
    detect = k_det = None
    if target:
        k = k_det = w.first_k(target, k0)
        detect = None if k is None else k - k0
        if k is not None and name in GEOMETRIC:
            detect = _since_crossing(w, name, k)
    st = w.sup.state
    codes = sorted(w.codes)
    within, detail = check_outputs(w)
    standstill = None
    ok = within
    reset_needed = recovered = None
    if target and expect != "DEGRADED->run":
        ok &= detect is not None and detect <= bound and st in LATCHED
        # standstill: periods from detection until the output stream stops moving
        k_det = k0 if k_det is None else k_det
        ks = [k for k, p, _, s in w.log if p is not None and k >= k_det]
        outs = [p for k, p, _, s in w.log if p is not None and k >= k_det]
        for i in range(1, len(outs)):
            if np.array_equal(outs[i], outs[i - 1]):
                standstill = ks[i] - k_det
                break
        ok &= standstill is not None and standstill * w.dt <= w.sup.stop_bound_s + 1e-9
        # faults removed: still latched (no self-recovery), then reset -> READY -> RUNNING
        _heal(w)
        w.run_s(0.1)
        reset_needed = w.sup.state in LATCHED
        okr, msg = w.sup.reset(w.now)
        w.run_s(0.1)
        recovered = okr and w.sup.state == State.RUNNING
        ok &= reset_needed and recovered
    elif expect == "DEGRADED->run":
        ok &= detect is not None and detect <= bound and st == State.RUNNING
    else:
        ok &= st == State.RUNNING
        if expect == "clamp":
            ok &= w.sup.counters.clamped > 0
    within2, detail2 = check_outputs(w)
    ok &= within2
    if name in CASE_EXTRA:
        what, pred = CASE_EXTRA[name]
        if not pred(w):
            ok = False
            detail2 = f"{detail2}; missing: {what}"
    return CaseResult(name, check, expect, st.name, codes, detect, bound, standstill,
                      sum(1 for _, p, _, _ in w.log if p is not None), within and within2,
                      detail if not within else detail2, reset_needed, recovered, bool(ok), level)


def _heal(w: World) -> None:
    w.js_alive = w.cmd_alive = w.action_alive = w.latent_alive = w.heart_alive = True
    w.js_corrupt = None
    w.cmd_fn = None
    w.v_meas = np.zeros_like(w.v_meas)
    w.sup.estop(w.now, "released", active=False)
    # the controller restarts from where the arm is (as the real controller does on hold)
    q_hold = w.q_meas.copy()
    w.nominal = lambda now: q_hold


def run_all() -> list[CaseResult]:
    return [run_case(n) for n in CASES]


# --------------------------------------------------------------------------- doc table
BEGIN, END = "<!-- FAULT_MATRIX_BEGIN -->", "<!-- FAULT_MATRIX_END -->"


def render_table(results: list[CaseResult], period_s: float) -> str:
    lines = [f"Generated by `python -m vla_safety.fault_matrix --node --write-doc docs/SAFETY.md` "
             f"(control period: core {period_s * 1e3:.0f} ms, node 10 ms; sim time; periods "
             f"counted, not wall time).",
             "", "| # | level | case | check | expected | final state | fault codes | detected after "
             "(periods) | bound | standstill after | outputs | limits held | reset needed | "
             "recovered after reset | pass |", "|" + "---|" * 15]
    for i, r in enumerate(results, 1):
        f = (lambda v: "-" if v is None else str(v))
        lines.append(f"| {i} | {r.level} | `{r.name}` | {r.check} | {r.expect} | {r.state} | "
                     f"{', '.join(r.codes) or '-'} | {f(r.detect_periods)} | {f(r.bound_periods)} | "
                     f"{f(r.standstill_periods)} | {r.outputs} | "
                     f"{'yes' if r.within_limits else 'NO: ' + r.limit_detail} | {f(r.reset_needed)} | "
                     f"{f(r.recovered)} | {'PASS' if r.ok else 'FAIL'} |")
    n_ok = sum(r.ok for r in results)
    lines += ["", f"{n_ok}/{len(results)} cases pass."]
    return "\n".join(lines)


def write_doc(path: Path, table: str) -> None:
    text = path.read_text() if path.is_file() else f"# Safety\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write-doc", type=Path, help="replace the table between the markers")
    ap.add_argument("--node", action="store_true", help="also run the node-level subset (DDS)")
    a = ap.parse_args(argv)
    results = run_all()
    if a.node:
        from vla_safety.ros_fault_harness import run_node_cases
        results += run_node_cases()
    table = render_table(results, MATRIX_CFG["control_period_s"])
    print(table)
    if a.write_doc:
        write_doc(a.write_doc, table)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
