"""Scripted experts: solve every task from the simulator state with DLS IK (ROS-free).

An expert plans a list of Cartesian waypoints per arm (tool position, yaw of a top-down tool,
gripper width) from the object poses at the start of the episode, follows them with min-jerk
interpolation and converts each control tick's tool pose to absolute joint targets with IK
warm-started from the previous solution. Actions are in the command space (command_names
order: arm joint positions, gripper widths), one per ``period_s``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from vla_sim.ik import DlsIk, yaw_down_rotation


@dataclass(frozen=True)
class Waypoint:
    pos: tuple[float, float, float]
    yaw_rad: float
    gripper_m: float
    speed_m_s: float = 0.3
    min_duration_s: float = 0.0
    hold_s: float = 0.0        # stay at the end pose this long (e.g. while the gripper closes)


def _min_jerk(s: float) -> float:
    s = min(max(s, 0.0), 1.0)
    return s * s * s * (10 - 15 * s + 6 * s * s)


def _wrap(a: float) -> float:
    return (a + np.pi) % (2 * np.pi) - np.pi


class ArmTrack:
    """Follows a waypoint list for one arm: pose at time t, IK to joints."""

    def __init__(self, ik: DlsIk, q0: np.ndarray, start_pos: np.ndarray, start_yaw: float,
                 waypoints: list[Waypoint], start_gripper: float):
        self.ik = ik
        self.q = np.asarray(q0, float).copy()
        self.segments = []
        t = 0.0
        p0, y0 = np.asarray(start_pos, float), start_yaw
        for w in waypoints:
            p1 = np.asarray(w.pos, float)
            dyaw = _wrap(w.yaw_rad - y0)
            dur = max(np.linalg.norm(p1 - p0) / w.speed_m_s, abs(dyaw) / 1.5, w.min_duration_s, 1e-3)
            self.segments.append((t, dur, p0, p1, y0, y0 + dyaw, w.gripper_m, w.hold_s))
            t += dur + w.hold_s
            p0, y0 = p1, y0 + dyaw
        self.duration_s = t
        self.gripper = start_gripper

    def pose(self, t: float) -> tuple[np.ndarray, float, float]:
        for (t0, dur, p0, p1, y0, y1, g, hold) in self.segments:
            if t < t0 + dur + hold:
                s = _min_jerk((t - t0) / dur)
                return p0 + s * (p1 - p0), y0 + s * (y1 - y0), g
        t0, dur, p0, p1, y0, y1, g, hold = self.segments[-1]
        return p1, y1, g

    def joints(self, t: float, full_qpos: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        pos, yaw, g = self.pose(t)
        self.q, _ = self.ik.solve(self.q, pos, yaw_down_rotation(yaw), iters=8, full_qpos=full_qpos)
        return self.q.copy(), g


def tool_yaw(xmat: np.ndarray) -> float:
    """Yaw of a (roughly) top-down tool from its rotation matrix (tool x axis in the xy plane)."""
    return float(np.arctan2(xmat[1, 0], xmat[0, 0]))


def body_yaw(xmat: np.ndarray) -> float:
    return float(np.arctan2(xmat[1, 0], xmat[0, 0]))


def nearest_yaw(candidate: float, current: float, symmetry_rad: float) -> float:
    """The yaw equal to ``candidate`` modulo ``symmetry_rad`` closest to ``current``."""
    k = np.round((current - candidate) / symmetry_rad)
    return float(candidate + k * symmetry_rad)


class Expert:
    """Base: ``reset(env)`` plans from the simulator state, ``act(t)`` gives the action.

    Retry demonstrations (a planned miss first): ``train_from_s`` is where the demonstration
    starts; ``miss_spoiled`` is True when the planned miss moved the object anyway (caught it),
    so there is no retry to learn from."""
    period_s = 0.02
    train_from_s = 0.0
    miss_spoiled = False

    def reset(self, env) -> None:
        raise NotImplementedError

    def act(self, t_s: float) -> np.ndarray:
        raise NotImplementedError

    @property
    def duration_s(self) -> float:
        raise NotImplementedError


# tasks with retry demonstrations (a planned miss, then the task), per robot
RETRY_TASKS = {"franka": ("pick_cube", "place_cube_on_plate"), "aloha": ("transfer_cube",)}


@dataclass(frozen=True)
class MissFirst:
    """Retry demonstrations: the first grasp closes ``offset_m`` beside the cube, in the table
    direction ``direction_rad`` (a miss like the learned policy's), then the expert re-plans
    from the simulator state and picks the cube properly. Only the part after the miss is a
    demonstration (``FrankaExpert.train_from_s``): a policy trained on it learns to recover
    from an empty grasp, never to miss on purpose."""
    offset_m: float
    direction_rad: float
    lift_m: float = 0.0    # the empty gripper rises this far before the retry (as a policy would)
    above_m: float = 0.0   # ... and closes this far above the grasp height (ALOHA: on the cube's top)

    def __post_init__(self):
        if not (np.isfinite(self.offset_m) and 0.0 < self.offset_m <= 0.1):
            raise ValueError(f"miss offset must be in (0, 0.1] m, got {self.offset_m}")
        if not np.isfinite(self.direction_rad):
            raise ValueError("miss direction must be finite")
        if not (np.isfinite(self.lift_m) and 0.0 <= self.lift_m <= 0.15):
            raise ValueError(f"miss lift must be in [0, 0.15] m, got {self.lift_m}")
        if not (np.isfinite(self.above_m) and 0.0 <= self.above_m <= 0.08):
            raise ValueError(f"miss height must be in [0, 0.08] m, got {self.above_m}")

    @staticmethod
    def sample(rng: np.random.Generator, offset_range_m=(0.022, 0.04),
               lift_range_m=(0.0, 0.1)) -> "MissFirst":
        """Offsets just past what the 8 cm fingers straddle around a 4 cm cube (2 cm)."""
        return MissFirst(float(rng.uniform(*offset_range_m)), float(rng.uniform(-np.pi, np.pi)),
                         float(rng.uniform(*lift_range_m)))

    @staticmethod
    def sample_for(robot: str, rng: np.random.Generator) -> "MissFirst":
        """The miss of ``robot``'s retry demonstrations, like its learned policy's misses.

        Franka (``sample``): 2.2-4 cm beside the cube. ALOHA: the v5 policy's empty grasps close
        with the giving TCP 1-3.5 cm beside and ~3 cm above the cube's centre, fingertips on the
        cube's top or edge (docs/TRAINING.md, "Dec 6, third"); the miss copies that.
        """
        if robot == "franka":
            return MissFirst.sample(rng)
        if robot == "aloha":
            m = MissFirst.sample(rng, offset_range_m=(0.012, 0.035), lift_range_m=(0.0, 0.05))
            return dataclasses.replace(m, above_m=float(rng.uniform(0.01, 0.035)))
        raise ValueError(f"no retry demonstrations for robot '{robot}'")


class FrankaExpert(Expert):
    """Pick, place and push for the Franka table-top tasks."""
    approach_h = 0.10
    lift_z = 0.20
    miss_hold_s = 0.55     # the empty grasp is held as long as a real one

    def __init__(self, env, miss_first: MissFirst | None = None):
        spec = env.spec
        self.names = env.command_names
        self.ik = DlsIk(env.model, spec.arm_mj_joints, spec.tcp_sites[next(iter(spec.tcp_sites))],
                        posture=spec.home_q, damping=0.03)
        self.track: ArmTrack | None = None
        self.miss_first = miss_first
        self.train_from_s = 0.0  # demonstration frames start here (> 0 after a planned miss)

    def reset(self, env) -> None:
        self._env = env
        self._t_track0 = 0.0
        self._retry_at_s = None
        self.train_from_s = 0.0
        if self.miss_first is not None and env.task.name in RETRY_TASKS["franka"]:
            self._plan_miss(env)
        else:
            self._plan(env)

    def _start(self, env) -> tuple:
        """(arm joints, tool position, tool yaw, target cube position, grasp yaw nearest the
        tool's) from the simulator state: where every plan starts."""
        q0 = env.arm_q()
        tcp_pos, tcp_rot = self.ik.fk(q0, env.data.qpos)
        cur_yaw = tool_yaw(tcp_rot)
        target = env.task_params["target"]
        cube_yaw = nearest_yaw(body_yaw(env._ctx.body_xmat(target)), cur_yaw, np.pi / 2)
        return q0, tcp_pos, cur_yaw, env._ctx.body_pos(target), cube_yaw

    def _plan_miss(self, env) -> None:
        """Approach and close beside the cube; ``act`` re-plans the real task at the end."""
        q0, tcp_pos, cur_yaw, cube, cube_yaw = self._start(env)
        m = self.miss_first
        xy = cube[:2] + m.offset_m * np.array([np.cos(m.direction_rad), np.sin(m.direction_rad)])
        wps = [Waypoint((*xy, cube[2] + self.approach_h), cube_yaw, 0.08, 0.35, min_duration_s=0.6),
               Waypoint((*xy, cube[2] - 0.004), cube_yaw, 0.08, 0.15),
               Waypoint((*xy, cube[2] - 0.004), cube_yaw, 0.0, hold_s=self.miss_hold_s),
               Waypoint((*xy, cube[2] - 0.004 + m.lift_m), cube_yaw, 0.0, 0.2)]
        self.track = ArmTrack(self.ik, q0, tcp_pos, cur_yaw, wps, env.gripper_widths()[0])
        self._qpos = env.data.qpos.copy()
        self._retry_at_s = self.train_from_s = self.track.duration_s

    def _plan(self, env, after_miss: bool = False) -> None:
        from vla_sim.tasks import CUBE_HALF
        ctx = env._ctx
        p = env.task_params
        q0, tcp_pos, cur_yaw, cube, cube_yaw = self._start(env)
        g_open, g_closed = 0.08, 0.0
        above = (cube[0], cube[1], cube[2] + self.approach_h)
        grasp = (cube[0], cube[1], cube[2] - 0.004)
        name = env.task.name
        if name in ("pick_cube", "place_cube_on_plate"):
            wps = [Waypoint(above, cube_yaw, g_open, 0.35, min_duration_s=0.6),
                   Waypoint(grasp, cube_yaw, g_open, 0.15),
                   Waypoint(grasp, cube_yaw, g_closed, hold_s=0.55),
                   Waypoint((cube[0], cube[1], self.lift_z), cube_yaw, g_closed, 0.2)]
            if name == "place_cube_on_plate":
                plate = ctx.body_pos(p["plate"])
                drop_z = plate[2] + 0.004 + CUBE_HALF + 0.012
                wps[-1] = Waypoint((cube[0], cube[1], 0.15), cube_yaw, g_closed, 0.2)
                wps += [Waypoint((plate[0], plate[1], 0.15), cube_yaw, g_closed, 0.3),
                        Waypoint((plate[0], plate[1], drop_z), cube_yaw, g_closed, 0.15),
                        Waypoint((plate[0], plate[1], drop_z), cube_yaw, g_open, hold_s=0.35),
                        Waypoint((plate[0], plate[1], drop_z + 0.12), cube_yaw, g_open, 0.25)]
        elif name == "push_cube":
            sgn = 1.0 if p["direction"] == "left" else -1.0
            # Closed fingers (3 cm across) face the push direction: hand y along world x.
            yaw = nearest_yaw(np.pi / 2, cur_yaw, np.pi)
            z = CUBE_HALF + 0.002
            start = (cube[0], cube[1] - sgn * 0.075)
            end = (cube[0], cube[1] + sgn * 0.16)
            wps = [Waypoint((*start, z + self.approach_h), yaw, g_closed, 0.35, min_duration_s=0.6),
                   Waypoint((*start, z), yaw, g_closed, 0.2),
                   Waypoint((*end, z), yaw, g_closed, 0.15),
                   Waypoint((*end, z + 0.08), yaw, g_closed, 0.2)]
        else:
            raise ValueError(f"FrankaExpert cannot solve task '{name}'")
        if after_miss:  # open straight up first, so the opening fingers do not sweep the cube
            wps.insert(0, Waypoint((tcp_pos[0], tcp_pos[1], cube[2] + 0.06), cur_yaw, g_open, 0.2,
                                   min_duration_s=0.3))
        self.track = ArmTrack(self.ik, q0, tcp_pos, cur_yaw, wps, env.gripper_widths()[0])
        self._qpos = env.data.qpos.copy()

    @property
    def duration_s(self) -> float:
        """End of the current plan (before a planned miss's retry: the retry's start)."""
        return self._t_track0 + self.track.duration_s

    def act(self, t_s: float) -> np.ndarray:
        if self._retry_at_s is not None and t_s >= self._retry_at_s:
            self._retry_at_s = None  # the cube may have been pushed: plan from where it is now
            self._t_track0 = t_s
            self._plan(self._env, after_miss=True)
        q, g = self.track.joints(t_s - self._t_track0, self._qpos)
        return np.concatenate([q, [g]])


def make_expert(env, miss_first: MissFirst | None = None) -> Expert:
    """The scripted expert of ``env``'s robot; ``miss_first``: a retry demonstration (Franka
    pick/place, ALOHA transfer: the first grasp misses, the expert re-plans and succeeds)."""
    if env.spec.model.nu and "panda_joint1" in env.spec.arm_mj_joints:
        return FrankaExpert(env, miss_first)
    from vla_sim.aloha_experts import AlohaExpert
    return AlohaExpert(env, miss_first)


def run_episode(env, task: str, seed: int, expert: Expert | None = None, period_s: float = 0.02,
                max_duration_s: float | None = None, post_success_s: float = 0.3,
                on_frame=None, split: str = "train", controller=None) -> tuple[bool, str, int]:
    """Reset ``env`` to ``task``/``seed`` and let the expert act until success (+ margin) or
    timeout. ``on_frame(k, t_s, state, action)`` is called before each action is applied.

    ``controller`` (a fresh ``vla_controller`` Controller, optional) shapes the expert's targets
    as the deployed stack does (target delay, velocity- and acceleration-limited tracking, one
    tick per sim step); without it the targets go straight to the position actuators.

    Returns:
        (success, instruction, number of frames).
    """
    instruction = env.reset(task, seed, split)
    expert = expert or make_expert(env)
    expert.reset(env)
    n_sub = max(1, int(round(period_s / env.dt_s)))
    limit = max_duration_s if max_duration_s is not None else env.task.max_duration_s
    n_frames = int(round(limit / period_s))
    success_at = None
    k = 0
    for k in range(n_frames):
        t = k * period_s
        a = expert.act(t)
        if on_frame is not None:
            on_frame(k, t, env.joint_positions(), a)
        if controller is None:
            env.command_targets(env.command_names, a)
            env.step(n_sub)
        else:
            from vla_sim.controller_loop import step_through_controller
            step_through_controller(env, controller, a, n_sub)
        if success_at is None and env.success():
            success_at = t
        if success_at is not None and t - success_at >= post_success_s:
            break
    return env.success(), instruction, k + 1
