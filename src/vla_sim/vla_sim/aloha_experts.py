"""Scripted expert for the ALOHA tasks: both arms follow phase-wise Cartesian targets computed
from the simulator state at the start of each phase (so grasp offsets are corrected before the
handover / insertion), converted to joints with per-arm DLS IK (ROS-free)."""
from __future__ import annotations

from typing import Callable

import mujoco
import numpy as np

from vla_sim.experts import RETRY_TASKS, Expert, _min_jerk
from vla_sim.ik import DlsIk

OPEN, CLOSED = 0.057, 0.021


def gripper_rot(approach, fingers) -> np.ndarray:
    """Rotation of a ViperX gripper frame: x = approach direction, y = finger slide axis."""
    a = np.asarray(approach, float)
    a /= np.linalg.norm(a)
    f = np.asarray(fingers, float)
    f = f - a * np.dot(a, f)
    f /= np.linalg.norm(f)
    return np.column_stack([a, f, np.cross(a, f)])


def _quat(r: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, r.reshape(-1))
    return q


def _slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    if np.dot(q0, q1) < 0:
        q1 = -q1
    d = min(1.0, float(np.dot(q0, q1)))
    th = np.arccos(d)
    if th < 1e-6:
        q = q0 + s * (q1 - q0)
    else:
        q = (np.sin((1 - s) * th) * q0 + np.sin(s * th) * q1) / np.sin(th)
    return q / np.linalg.norm(q)


def _mat(q: np.ndarray) -> np.ndarray:
    r = np.zeros(9)
    mujoco.mju_quat2Mat(r, q)
    return r.reshape(3, 3)


# A phase: duration and, per arm, a function env -> (pos, rot, gripper) evaluated at phase start
# (None keeps the arm's previous target).
Target = Callable[[object], tuple]


class AlohaExpert(Expert):
    """Phase plans for both arms; the plan runs on its own clock, which slows down wherever
    following it at real time would move a joint faster than ``speed_fraction`` of its velocity
    limit (the IK's wrist passes near roll-pitch-roll singularities, where a small tool motion
    needs a large forearm_roll / wrist_rotate motion)."""
    speed_fraction = 0.8   # of the robot config's joint velocity limits (the controller: 0.9)

    miss_back_m = 0.04     # after an empty grasp: back off this far along the approach, opening

    def __init__(self, env, miss_first=None):
        spec = env.spec
        self.miss_first = miss_first  # vla_sim.experts.MissFirst: a retry demonstration
        self.sides = ("left", "right")
        self.iks = {}
        for s in self.sides:
            joints = [mj for cfg, mj in zip(spec.arm_joints, spec.arm_mj_joints) if spec.arm_of_joint[cfg] == s]
            self.iks[s] = DlsIk(env.model, joints, spec.tcp_sites[s], damping=0.02, rot_weight=0.25)
        self.names = env.command_names
        self._idx = {s: [i for i, n in enumerate(spec.arm_joints) if spec.arm_of_joint[n] == s] for s in self.sides}
        vmax = spec.vel_max_rad_s
        self._vmax = None if vmax is None else {s: np.asarray(vmax, float)[self._idx[s]] for s in self.sides}

    # ------------------------------------------------------------------ plans
    def _rot(self, env, side: str, approach, fingers) -> np.ndarray:
        """Gripper rotation; the finger axis sign (a symmetric gripper) nearest the arm's current
        one, so the wrist never has to turn half a revolution."""
        cur = env.data.site(f"vx300s_{side}/tcp").xmat.reshape(3, 3)
        f = np.asarray(fingers, float)
        return gripper_rot(approach, f if np.dot(cur[:, 1], f) >= 0 else -f)

    def _giver_approach(self, env) -> tuple:
        """(giver, taker, sg, approach axis, gripper rotation) of the transfer's giving arm."""
        p = env.task_params
        giver, taker = p["from_arm"], p["to_arm"]
        sg = 1.0 if giver == "right" else -1.0     # giver sits at x = sg * 0.469
        tilt = np.deg2rad(45)
        a_g = np.array([-sg * np.sin(tilt), 0.0, -np.cos(tilt)])   # tilted towards the middle
        return giver, taker, sg, a_g, self._rot(env, giver, a_g, [0, 1, 0])

    def _plan_transfer_miss(self, env):
        """The planned miss: approach as usual but to a point beside and above the cube
        (``miss_first``), close on nothing, hold, lift; ``act`` then re-plans the transfer."""
        giver, _, _, a_g, r_g = self._giver_approach(env)
        m = self.miss_first
        off = np.array([m.offset_m * np.cos(m.direction_rad), m.offset_m * np.sin(m.direction_rad),
                        0.004 + m.above_m])
        aim = env._ctx.body_pos("cube") + off
        tcp = lambda e: e.data.site(f"vx300s_{giver}/tcp").xpos.copy()  # noqa: E731
        return [
            (1.2, {giver: lambda e: (aim - 0.08 * a_g, r_g, OPEN)}),
            (0.7, {giver: lambda e: (aim, r_g, OPEN)}),
            (0.5, {giver: lambda e: (aim, r_g, CLOSED)}),
            (0.4, {giver: lambda e: (tcp(e) + np.array([0, 0, m.lift_m]), r_g, CLOSED)}),
        ]

    def _plan_transfer(self, env, after_miss: bool = False):
        giver, taker, sg, a_g, r_g = self._giver_approach(env)
        cube = lambda e: e._ctx.body_pos("cube")  # noqa: E731
        r_t = self._rot(env, taker, [sg, 0, 0], [0, 0, 1])          # horizontal, fingers vertical
        meet = np.array([0.0, 0.5, 0.22])

        def at_cube(dz=0.0, back=0.0):
            return lambda e: (cube(e) + np.array([0, 0, 0.004 + dz]) - back * a_g, r_g, OPEN)

        def taker_pose(offset, g):
            # Grab the half of the cube facing the taker, relative to where the cube really is.
            return lambda e: (cube(e) + np.array([-sg * offset, 0, 0]), r_t, g)

        def giver_meet(e):
            tcp = e.data.site(f"vx300s_{giver}/tcp").xpos.copy()
            return (meet + (tcp - cube(e)), r_g, CLOSED)

        G, T = giver, taker
        # after an empty grasp: open while backing off along the approach, so the opening
        # fingers do not sweep the cube, then a shorter approach from where the cube is now
        # (the episode's clock has run ~3 s already)
        approach = [(1.2, {G: at_cube(back=0.08)})]
        if after_miss:
            approach = [(0.4, {G: lambda e: (e.data.site(f"vx300s_{giver}/tcp").xpos.copy()
                                             - self.miss_back_m * a_g, r_g, OPEN)}),
                        (0.6, {G: at_cube(back=self.miss_back_m)})]
        return approach + [
            (0.7, {G: at_cube()}),
            (0.5, {G: lambda e: (*at_cube()(e)[:2], CLOSED)}),
            (1.2, {G: giver_meet, T: lambda e: (meet + np.array([-sg * 0.12, 0, 0]), r_t, OPEN)}),
            (0.8, {T: taker_pose(0.012, OPEN)}),
            (0.5, {T: taker_pose(0.012, CLOSED)}),
            (0.5, {G: lambda e: (e.data.site(f"vx300s_{giver}/tcp").xpos.copy(), r_g, OPEN)}),
            (0.8, {G: lambda e: (e.data.site(f"vx300s_{giver}/tcp").xpos.copy() - 0.08 * a_g, r_g, OPEN)}),
            (0.6, {}),
        ]

    def _plan_insertion(self, env):
        down_l = self._rot(env, "left", [0, 0, -1], [0, 1, 0])
        down_r = self._rot(env, "right", [0, 0, -1], [0, 1, 0])
        peg = lambda e: e._ctx.body_pos("peg")  # noqa: E731
        sock = lambda e: e._ctx.body_pos("socket")  # noqa: E731
        grasp_peg = lambda e, dz=0.006: (peg(e) + np.array([0.02, 0, dz]), down_r)  # noqa: E731
        grasp_sock = lambda e, dz=0.006: (sock(e) + np.array([-0.025, 0, dz]), down_l)  # noqa: E731
        S = np.array([-0.06, 0.5, 0.2])

        def above(f, h):
            return lambda e: (f(e)[0] + np.array([0, 0, h]), f(e)[1], OPEN)

        def move_obj(side, body, goal):
            # Move the tool so that the held object's centre reaches ``goal(e)``.
            def f(e):
                tcp = e.data.site(f"vx300s_{side}/tcp").xpos.copy()
                return (goal(e) + (tcp - e._ctx.body_pos(body)), down_l if side == "left" else down_r, CLOSED)
            return f

        def peg_tip_to(depth_m):
            # Put the peg's -x tip ``depth_m`` inside the socket's +x opening, along the socket's
            # own axis (corrects for how both objects really sit in the grippers).
            def f(e):
                c = e._ctx
                rs, rp = c.body_xmat("socket"), c.body_xmat("peg")
                opening = c.body_pos("socket") + rs @ np.array([0.06, 0, 0])
                goal_tip = opening - depth_m * rs[:, 0]
                tip = c.body_pos("peg") + rp @ np.array([-0.06, 0, 0])
                tcp = e.data.site("vx300s_right/tcp").xpos.copy()
                return (tcp + goal_tip - tip, down_r, CLOSED)
            return f

        return [
            (1.2, {"left": above(grasp_sock, 0.08), "right": above(grasp_peg, 0.08)}),
            (0.7, {"left": above(grasp_sock, 0.0), "right": above(grasp_peg, 0.0)}),
            (0.5, {"left": lambda e: (*grasp_sock(e), CLOSED), "right": lambda e: (*grasp_peg(e), CLOSED)}),
            (1.2, {"left": move_obj("left", "socket", lambda e: S),
                   "right": move_obj("right", "peg", lambda e: S + np.array([0.15, 0, 0]))}),
            (0.6, {"right": peg_tip_to(-0.02)}),
            (0.4, {"right": peg_tip_to(-0.01)}),
            (1.0, {"right": peg_tip_to(0.05)}),
            (0.8, {}),
        ]

    # ------------------------------------------------------------------ execution
    def reset(self, env) -> None:
        self.env = env
        plans = {"transfer_cube": self._plan_transfer, "insertion": self._plan_insertion}
        if env.task.name not in plans:
            raise ValueError(f"AlohaExpert cannot solve task '{env.task.name}'")
        self.train_from_s = 0.0
        self.miss_spoiled = False
        self._retry_pending = self.miss_first is not None
        if self.miss_first is not None:
            if env.task.name not in RETRY_TASKS["aloha"]:
                raise ValueError(f"ALOHA retry demonstrations exist for {RETRY_TASKS['aloha']} only")
            self._cube_z0 = float(env._ctx.body_pos("cube")[2])
            phases = self._plan_transfer_miss(env)
        else:
            phases = plans[env.task.name](env)
        q = env.arm_q()
        self.q = {s: q[self._idx[s]] for s in self.sides}
        widths = env.gripper_widths()
        start = {}
        for i, s in enumerate(self.sides):
            pos, rot = self.iks[s].fk(self.q[s], env.data.qpos)
            start[s] = (pos, _quat(rot), float(widths[i]))
        self._begin(phases, start)
        self._t_last = None

    def _begin(self, phases, start: dict) -> None:
        """Run ``phases`` from plan time 0, each arm starting at ``start[side]`` (pos, quat, g)."""
        self.phases = phases
        self._t_phase = []
        t = 0.0
        for dur, _ in self.phases:
            self._t_phase.append(t)
            t += dur
        self._duration = t
        self._phase = -1
        self.cur = dict(start)
        self.seg = {s: (0.0, 1e-3, self.cur[s], self.cur[s]) for s in self.sides}
        self._tau = 0.0          # plan time (s): behind t_s wherever the plan was slowed down

    @property
    def duration_s(self) -> float:
        return self._duration

    def _pose_at(self, s: str, t: float):
        t0, dur, (p0, q0, g0), (p1, q1, g1) = self.seg[s]
        u = _min_jerk((t - t0) / dur)
        return p0 + u * (p1 - p0), _slerp(q0, q1, u), g1 if (t - t0) >= 0 else g0

    def act(self, t_s: float) -> np.ndarray:
        if self._retry_pending and self._tau >= self._duration:
            # the planned miss is over: re-plan the task from the simulator state (the cube
            # may have been nudged), continuing from the last commanded poses
            self.miss_spoiled = float(self.env._ctx.body_pos("cube")[2]) - self._cube_z0 > 0.01
            end = {s: self._pose_at(s, self._duration) for s in self.sides}
            self._begin(self._plan_transfer(self.env, after_miss=True), end)
            self._retry_pending = False
            self.train_from_s = t_s
        dt = 0.0 if self._t_last is None else max(0.0, t_s - self._t_last)
        self._t_last = t_s
        tau = self._tau + dt
        q, grip = self._joints_at(tau)
        if self._vmax is not None and dt > 0:
            ratio = max(float(np.max(np.abs(q[s] - self.q[s]) / (self.speed_fraction * self._vmax[s] * dt)))
                        for s in self.sides)
            if ratio > 1.0:  # slow the plan clock so this tick's joint step fits the limit
                tau = self._tau + dt / ratio
                q, grip = self._joints_at(tau)
                for s in self.sides:  # the IK is not linear in tau: clip what is left over
                    step = self.speed_fraction * self._vmax[s] * dt
                    q[s] = self.q[s] + np.clip(q[s] - self.q[s], -step, step)
        self._tau = tau
        self.q = q
        out = np.zeros(len(self.names))
        col = 0
        for s in self.sides:
            out[col:col + len(q[s])] = q[s]
            out[col + len(q[s])] = grip[s]
            col += len(q[s]) + 1
        return out

    def _joints_at(self, tau: float) -> tuple[dict, dict]:
        """({side: joints}, {side: gripper width}) of the plan at plan time ``tau``; the IK is
        warm-started from the last commanded joints (nothing committed)."""
        k = int(np.searchsorted(self._t_phase, tau, side="right") - 1)
        while self._phase < k:  # enter new phase(s): targets from the current sim state
            self._phase += 1
            dur, targets = self.phases[self._phase]
            t0 = self._t_phase[self._phase]
            for s, f in targets.items():
                if f is None:
                    continue
                start = self._pose_at(s, t0)
                pos, rot, g = f(self.env)
                self.seg[s] = (t0, dur, start, (np.asarray(pos, float), _quat(rot), float(g)))
        qfull = self.env.data.qpos.copy()
        q, grip = {}, {}
        for s in self.sides:
            pos, quat, grip[s] = self._pose_at(s, tau)
            q[s], _ = self.iks[s].solve(self.q[s], pos, _mat(quat), iters=10, full_qpos=qfull)
        return q, grip
