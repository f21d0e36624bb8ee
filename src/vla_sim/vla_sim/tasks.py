"""Tasks: seeded randomized resets and success detectors (ROS-free).

A task moves and recolours the scene's objects in ``reset`` (from a seeded numpy Generator, so
the same seed gives the same initial state) and returns JSON-able parameters that fill the
instruction templates and tell the scripted expert what to do.
"""
from __future__ import annotations

import mujoco
import numpy as np

from vla_sim.scenes.common import PALETTE

# A task object this much above its height at reset counts as lifted (latched for the episode);
# a lifted object other than the task's target is a wrong-object pick (evaluation metric).
LIFT_THRESHOLD_M = 0.04


def wrong_lifted_objects(lifted, params: dict) -> list[str]:
    """The lifted objects that count as wrong-object picks: every one but ``params["target"]``.

    One definition for the in-process and the ROS-graph evaluation (the latter has only the
    ``/vla_sim/task`` JSON: ``lifted_objects`` and ``params``). A task without a single target
    object (ALOHA: every object it tracks is part of the task) has no wrong-object picks.
    """
    target = params.get("target")
    return [] if target is None else sorted(o for o in lifted if o != target)


class TaskContext:
    """Name-based access to bodies/geoms of the scene for tasks and experts."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData):
        self.model = model
        self.data = data

    def body_id(self, name: str) -> int:
        i = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if i < 0:
            raise KeyError(f"no body '{name}'")
        return i

    def geom_id(self, name: str) -> int:
        i = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, name)
        if i < 0:
            raise KeyError(f"no geom '{name}'")
        return i

    def body_pos(self, name: str) -> np.ndarray:
        return self.data.xpos[self.body_id(name)].copy()

    def body_xmat(self, name: str) -> np.ndarray:
        return self.data.xmat[self.body_id(name)].reshape(3, 3).copy()

    def body_speed(self, name: str) -> float:
        jadr = self.model.body_jntadr[self.body_id(name)]
        v = self.model.jnt_dofadr[jadr]
        return float(np.linalg.norm(self.data.qvel[v:v + 3]))

    def set_free_pose(self, body: str, pos, yaw_rad: float = 0.0) -> None:
        """Place a free-joint body at ``pos`` with a rotation ``yaw_rad`` about world z."""
        jadr = self.model.body_jntadr[self.body_id(body)]
        a = self.model.jnt_qposadr[jadr]
        self.data.qpos[a:a + 3] = pos
        self.data.qpos[a + 3:a + 7] = [np.cos(yaw_rad / 2), 0.0, 0.0, np.sin(yaw_rad / 2)]
        v = self.model.jnt_dofadr[jadr]
        self.data.qvel[v:v + 6] = 0.0

    def set_rgba(self, geom: str, rgb, alpha: float = 1.0) -> None:
        self.model.geom_rgba[self.geom_id(geom)] = [*np.clip(rgb, 0, 1), alpha]

    def in_contact(self, geoms_a: set[int], geoms_b: set[int]) -> bool:
        """True if any active contact pairs a geom of ``geoms_a`` with one of ``geoms_b``."""
        if self.data.ncon == 0:
            return False
        g = self.data.contact.geom[:self.data.ncon]
        a = np.isin(g, list(geoms_a))
        b = np.isin(g, list(geoms_b))
        return bool(np.any((a[:, 0] & b[:, 1]) | (a[:, 1] & b[:, 0])))

    def body_geoms(self, body: str) -> set[int]:
        if not hasattr(self, "_geoms_of"):
            self._geoms_of: dict[str, set[int]] = {}
        if body not in self._geoms_of:
            b = self.body_id(body)
            self._geoms_of[body] = set(np.flatnonzero(self.model.geom_bodyid == b).tolist())
        return self._geoms_of[body]


class Task:
    """Base class. Subclasses set ``name`` and implement ``reset`` and ``success``."""
    name = ""
    max_duration_s = 10.0

    def reset(self, ctx: TaskContext, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def after_settle(self, ctx: TaskContext, params: dict) -> None:
        """Record positions after objects settled (e.g. a push's start point)."""

    def lift_objects(self, params: dict) -> tuple[str, ...]:
        """Bodies whose lifts above their reset height ``SimEnv`` tracks (names as in params)."""
        return ()

    def success(self, ctx: TaskContext, params: dict) -> bool:
        raise NotImplementedError


def _jitter(rgb, rng: np.random.Generator, amount: float = 0.06) -> np.ndarray:
    return np.clip(np.asarray(rgb) + rng.uniform(-amount, amount, 3), 0, 1)


# --------------------------------------------------------------------------- Franka table top
FRANKA_WORKSPACE = ((0.36, 0.62), (-0.24, 0.24))  # x, y ranges (m) in front of the base
CUBES = tuple(f"cube_{i}" for i in range(4))
PLATES = tuple(f"plate_{i}" for i in range(2))
DISTRACTORS = ("distractor_0", "distractor_1")
_RADIUS = {**{c: 0.045 for c in CUBES}, **{p: 0.07 for p in PLATES},
           **{d: 0.035 for d in DISTRACTORS}}
_Z = {**{c: 0.02 for c in CUBES}, **{p: 0.004 for p in PLATES}, "distractor_0": 0.03,
      "distractor_1": 0.03}
TABLE_TOP_Z = 0.0
CUBE_HALF = 0.02


class FrankaTableTask(Task):
    """Shared layout randomization: 4 cubes, 2 plates, 2 distractors, distinct cube colours."""
    max_duration_s = 8.0

    def lift_objects(self, params):
        return CUBES

    def _layout(self, ctx: TaskContext, rng: np.random.Generator, first: str | None = None,
                first_box=None, reject=None) -> dict:
        """Sample a collision-free layout. ``first`` is placed first inside ``first_box``
        ((x0, x1), (y0, y1)); ``reject(name, xy, placed)`` can veto other objects' positions."""
        (x0, x1), (y0, y1) = FRANKA_WORKSPACE
        order = list(PLATES) + list(CUBES) + list(DISTRACTORS)
        if first:
            order.remove(first)
            order.insert(0, first)
        for _attempt in range(200):
            pos: dict[str, np.ndarray] = {}
            good = True
            for n in order:
                (bx0, bx1), (by0, by1) = first_box if n == first and first_box else ((x0, x1), (y0, y1))
                for _ in range(200):
                    p = np.array([rng.uniform(bx0, bx1), rng.uniform(by0, by1)])
                    if all(np.linalg.norm(p - q) > _RADIUS[n] + _RADIUS[m] + 0.01 for m, q in pos.items()) \
                            and not (reject and n != first and reject(n, p, pos)):
                        pos[n] = p
                        break
                else:
                    good = False
                    break
            if good:
                break
        else:
            raise RuntimeError("could not sample a collision-free layout")
        names = order
        colors = list(PALETTE)
        cube_colors = [colors[i] for i in rng.permutation(len(colors))[:len(CUBES)]]
        plate_colors = [colors[i] for i in rng.permutation(len(colors))[:len(PLATES)]]
        for n in names:
            ctx.set_free_pose(n, [*pos[n], _Z[n] + TABLE_TOP_Z], rng.uniform(-np.pi / 4, np.pi / 4))
        for c, col in zip(CUBES, cube_colors):
            ctx.set_rgba(c, _jitter(PALETTE[col], rng))
        for p, col in zip(PLATES, plate_colors):
            ctx.set_rgba(p, _jitter(PALETTE[col], rng))
        for dname in DISTRACTORS:
            ctx.set_rgba(dname, rng.uniform(0.1, 0.9, 3))
        return {"cube_colors": dict(zip(CUBES, cube_colors)),
                "plate_colors": dict(zip(PLATES, plate_colors)),
                "xy": {n: [round(float(v), 4) for v in p] for n, p in pos.items()}}


class PickCube(FrankaTableTask):
    """``pick up the <color> cube``: success when the target cube is >= 8 cm above the table."""
    name = "pick_cube"
    lift_m = 0.08

    def reset(self, ctx, rng):
        lay = self._layout(ctx, rng)
        target = CUBES[int(rng.integers(len(CUBES)))]
        return {"target": target, "color": lay["cube_colors"][target], **lay}

    def success(self, ctx, params):
        return bool(ctx.body_pos(params["target"])[2] > TABLE_TOP_Z + CUBE_HALF + self.lift_m)


class PlaceCubeOnPlate(FrankaTableTask):
    """``put the <color> cube on the <color> plate``: cube resting on the plate, released."""
    name = "place_cube_on_plate"

    def reset(self, ctx, rng):
        lay = self._layout(ctx, rng)
        target = CUBES[int(rng.integers(len(CUBES)))]
        plate = PLATES[int(rng.integers(len(PLATES)))]
        return {"target": target, "color": lay["cube_colors"][target], "plate": plate,
                "plate_color": lay["plate_colors"][plate], **lay}

    def success(self, ctx, params):
        c = ctx.body_pos(params["target"])
        p = ctx.body_pos(params["plate"])
        on = np.linalg.norm(c[:2] - p[:2]) < 0.05 and c[2] < p[2] + 0.004 + CUBE_HALF + 0.012
        if not on or ctx.body_speed(params["target"]) > 0.05:
            return False
        fingers = ctx.body_geoms("panda_leftfinger") | ctx.body_geoms("panda_rightfinger")
        return not ctx.in_contact(fingers, ctx.body_geoms(params["target"]))


class PushCube(FrankaTableTask):
    """``push the <color> cube to the left/right``: cube slid >= 10 cm along +y (left) / -y."""
    name = "push_cube"
    distance_m = 0.10
    lane_m = (0.12, 0.24)  # free space needed behind / ahead of the cube

    def reset(self, ctx, rng):
        target = CUBES[int(rng.integers(len(CUBES)))]
        direction = "left" if rng.random() < 0.5 else "right"
        sgn = 1.0 if direction == "left" else -1.0
        behind, ahead = self.lane_m

        def in_lane(n, p, pos):
            t = pos[target]
            along = (p[1] - t[1]) * sgn
            return abs(p[0] - t[0]) < _RADIUS[n] + 0.05 and -behind - _RADIUS[n] < along < ahead + _RADIUS[n]

        lay = self._layout(ctx, rng, first=target, first_box=((0.42, 0.56), (-0.06, 0.06)),
                           reject=in_lane)
        return {"target": target, "color": lay["cube_colors"][target], "direction": direction, **lay}

    def after_settle(self, ctx, params):
        params["start_xy"] = [round(float(v), 5) for v in ctx.body_pos(params["target"])[:2]]

    def success(self, ctx, params):
        c = ctx.body_pos(params["target"])
        sgn = 1.0 if params["direction"] == "left" else -1.0
        dy = (c[1] - params["start_xy"][1]) * sgn
        return bool(dy >= self.distance_m and c[2] < TABLE_TOP_Z + CUBE_HALF + 0.01)


def franka_tasks() -> dict[str, Task]:
    return {t.name: t for t in (PickCube(), PlaceCubeOnPlate(), PushCube())}
