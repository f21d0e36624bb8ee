"""Robot geometry for the gate (ROS-free): end-effector positions, finger-tip heights, self- and
environment-collision distances and gravity torques from Pinocchio + coal.

Franka: the example-robot-data Panda URDF (collision meshes) with the SRDF's disabled pairs.
ALOHA: :mod:`vla_safety.aloha_geometry` (the MuJoCo collision geoms on the Pinocchio model of
``vla_controller.kinematics.build_aloha_model``).
The environment is a table slab whose top face is the plane ``z = table_z_m`` in the base frame.
The fingers are not checked against the table slab: the gate checks their lowest point against
the table plane on every command (``Supervisor`` TABLE_PLANE), so a grasp with the finger tips a
few mm above the table is not slowed down by the 50 Hz distance check.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLE = "table"


class ModelUnavailable(RuntimeError):
    """No Pinocchio model exists for this robot (collision/geofence/gravity checks cannot run)."""


@dataclass(frozen=True)
class Distances:
    """Minimum distances (m) and the closest pairs; negative = penetration."""
    self_min_m: float
    self_pair: str
    env_min_m: float
    env_pair: str


def franka_paths(share_dir: Path) -> tuple[Path, Path]:
    """URDF and SRDF of the Panda inside the cmeel share dir.

    Raises:
        ModelUnavailable: the files are missing.
    """
    base = Path(share_dir) / "example-robot-data" / "robots" / "panda_description"
    urdf, srdf = base / "urdf" / "panda.urdf", base / "srdf" / "panda.srdf"
    for p in (urdf, srdf):
        if not p.is_file():
            raise ModelUnavailable(f"missing {p} (is example-robot-data installed?)")
    return urdf, srdf


def shape_points(shape) -> np.ndarray:
    """Vertices of a coal shape in its own frame (its lowest point is one of them).

    Args:
        shape: ``coal.Box``, ``coal.Convex`` or a coal BVH mesh.
    Returns:
        ``(k, 3)`` points.
    Raises:
        ModelUnavailable: another shape type (no finite vertex set).
    """
    import coal
    if isinstance(shape, coal.Box):
        h = np.asarray(shape.halfSide, float)
        return np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * h
    if hasattr(shape, "points") and hasattr(shape, "num_points"):
        return np.asarray(shape.points(), float).reshape(-1, 3)
    if hasattr(shape, "vertices"):
        return np.array([np.asarray(v) for v in shape.vertices()], float)
    raise ModelUnavailable(f"no vertex set for a {type(shape).__name__}")


def add_table(pin, coal, geom, table_z_m: float) -> int:
    """Add the table slab (4 x 4 m, top face at ``table_z_m``) to ``geom``; returns its index."""
    slab = coal.Box(4.0, 4.0, 0.2)
    pose = pin.SE3(np.eye(3), np.array([0.0, 0.0, table_z_m - 0.1]))
    return geom.addGeometryObject(pin.GeometryObject(TABLE, 0, 0, pose, slab))


class RobotGeometry:
    """Pinocchio model + collision model of one robot, addressed in command-DoF order.

    Args:
        model: Pinocchio model holding the arm joints and the finger joints.
        geom: collision model with its self pairs and environment pairs (a pair with the geometry
            named ``table`` is an environment pair) already set.
        arm_joints: arm joint names in command order.
        gripper_joints: per gripper DoF, the finger joints it drives; same order as the grippers
            in the command vector.
        finger_q_per_width: each finger joint's q per unit of the gripper command (Franka: each
            finger moves width / 2; ALOHA: the command is the finger position itself).
        ee_frames: per arm, the frame whose origin the geofence checks.
        tip_geoms: per arm, the geometry names whose lowest point the table plane checks.
    Raises:
        ModelUnavailable: a joint, frame or geometry is not in the model.
    """

    def __init__(self, model, geom, arm_joints: tuple[str, ...],
                 gripper_joints: tuple[tuple[str, ...], ...], finger_q_per_width: float,
                 ee_frames: tuple[str, ...], tip_geoms: tuple[tuple[str, ...], ...]):
        import pinocchio as pin
        self._pin = pin
        self.model, self.geom = model, geom
        names = geom.geometryObjects
        self._is_env = np.array([TABLE in (names[cp.first].name, names[cp.second].name)
                                 for cp in geom.collisionPairs], bool)
        self.data = model.createData()
        self.gdata = pin.GeometryData(geom)
        self._q = pin.neutral(model)
        self._arm_idx = [self._joint(j).idx_q for j in arm_joints]
        self._arm_v = [self._joint(j).idx_v for j in arm_joints]
        self._grip_idx = [[self._joint(j).idx_q for j in fingers] for fingers in gripper_joints]
        self._finger_k = float(finger_q_per_width)
        self._ee = []
        for f in ee_frames:
            if not model.existFrame(f):
                raise ModelUnavailable(f"frame '{f}' not in the {model.name} model")
            self._ee.append(model.getFrameId(f))
        self._tips = []  # per arm: [(joint id, points in that joint's frame)], one per joint
        for arm in tip_geoms:
            per_joint: dict[int, list[np.ndarray]] = {}
            for gname in arm:
                if not geom.existGeometryName(gname):
                    raise ModelUnavailable(f"geometry '{gname}' not in the collision model")
                go = names[geom.getGeometryId(gname)]
                pts = shape_points(go.geometry)
                M = go.placement
                per_joint.setdefault(go.parentJoint, []).append(pts @ M.rotation.T + M.translation)
            self._tips.append([(j, np.concatenate(p)) for j, p in per_joint.items()])
        self.n_arm = len(arm_joints)
        self.n_ee = len(self._ee)

    def _joint(self, name: str):
        if not self.model.existJointName(name):
            raise ModelUnavailable(f"joint '{name}' not in the {self.model.name} model")
        return self.model.joints[self.model.getJointId(name)]

    def _set(self, q_arm: np.ndarray, widths: np.ndarray) -> np.ndarray:
        q = self._q.copy()
        q[self._arm_idx] = q_arm
        for idx, w in zip(self._grip_idx, widths):
            q[idx] = w * self._finger_k
        return q

    def fence_points(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> tuple[np.ndarray, np.ndarray]:
        """End-effector positions and the lowest finger-tip height per arm (one kinematics pass).

        Args:
            q_arm: arm joint positions in command order.
            widths: gripper commands, one per gripper.
        Returns:
            ``(n_arms, 3)`` end-effector frame origins and ``(n_arms,)`` lowest z of the finger
            geometry (m, base frame; ``+inf`` for an arm without tip geometry).
        """
        q = self._set(q_arm, widths)
        pin = self._pin
        pin.forwardKinematics(self.model, self.data, q)  # joints only: the frames we need below
        ee = np.array([pin.updateFramePlacement(self.model, self.data, f).translation
                       for f in self._ee])
        return ee, self._lowest_tips()[0]

    def _lowest_tips(self) -> tuple[np.ndarray, list]:
        """From the joint placements in ``self.data``: per arm, the lowest finger-tip height
        (``+inf`` without tip geometry) and ``(joint id, that vertex in the joint's frame)`` or
        None."""
        low = np.full(len(self._tips), np.inf)
        where: list = [None] * len(self._tips)
        for a, items in enumerate(self._tips):
            for jid, pts in items:
                M = self.data.oMi[jid]
                z = pts @ M.rotation[2]
                i = int(z.argmin())
                if z[i] + M.translation[2] < low[a]:
                    low[a] = float(z[i] + M.translation[2])
                    where[a] = (jid, pts[i])
        return low, where

    def tip_height_gradient(self, q_arm: np.ndarray, widths: np.ndarray = ()
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Lowest finger-tip height per arm and its gradient over the arm joints.

        Args:
            q_arm: arm joint positions in command order.
            widths: gripper commands, one per gripper.
        Returns:
            ``(n_arms,)`` lowest z (m; ``+inf`` without tip geometry) and ``(n_arms, n_arm)``
            d(lowest z)/d(q_arm), command order (zero for another arm's joints). The gradient is
            that of the vertex that is lowest at ``q_arm`` (piecewise: another vertex may take
            over after a step).
        """
        pin = self._pin
        q = self._set(q_arm, widths)
        pin.computeJointJacobians(self.model, self.data, q)  # also the joint placements
        low, where = self._lowest_tips()
        grad = np.zeros((len(self._tips), self.n_arm))
        for a, best in enumerate(where):
            if best is None:
                continue
            jid, p = best
            r = self.data.oMi[jid].rotation @ p  # lowest point relative to its joint origin, world axes
            J = pin.getJointJacobian(self.model, self.data, jid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
            # point velocity z = v_z + (w x r)_z = v_z + w_x r_y - w_y r_x
            row = J[2] + r[1] * J[3] - r[0] * J[4]
            grad[a] = row[self._arm_v]
        return low, grad

    def tip_lever_bounds(self, widths_max: np.ndarray) -> np.ndarray:
        """Per arm, an upper bound (m) of |d(lowest tip z)/dq| over its revolute arm joints and
        every configuration: the distance from a joint's axis to a tip point is at most the sum
        of the joint offsets below it, the finger strokes and the tip vertex's distance from its
        joint (triangle inequality along the chain).

        Args:
            widths_max: largest gripper command per gripper (the finger strokes follow from it).
        """
        stroke = {j: abs(float(w)) * self._finger_k
                  for idx, w in zip(self._grip_idx, np.atleast_1d(widths_max))
                  for j in idx}
        arm_q = set(self._arm_idx)
        out = np.zeros(len(self._tips))
        for a, items in enumerate(self._tips):
            for jid, pts in items:
                r, j = float(np.max(np.linalg.norm(pts, axis=1))), jid
                while j > 0 and self.model.joints[j].idx_q not in arm_q:  # finger joints
                    r += float(np.linalg.norm(self.model.jointPlacements[j].translation))
                    r += stroke.get(self.model.joints[j].idx_q, 0.0)
                    j = self.model.parents[j]
                while j > 0 and self.model.parents[j] > 0 and \
                        self.model.joints[self.model.parents[j]].idx_q in arm_q:
                    r += float(np.linalg.norm(self.model.jointPlacements[j].translation))
                    j = self.model.parents[j]
                out[a] = max(out[a], r)
        return out

    def ee_position(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> np.ndarray:
        """First arm's end-effector frame origin in the base frame (m), ``(3,)``."""
        return self.fence_points(q_arm, widths)[0][0]

    def distances(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> Distances:
        """Minimum self-collision and table distance over all checked pairs (Franka ~2 ms)."""
        q = self._set(q_arm, widths)
        self._pin.computeDistances(self.model, self.data, self.geom, self.gdata, q)
        d = np.array([r.min_distance for r in self.gdata.distanceResults])
        names = self.geom.geometryObjects

        def best(mask):
            if not np.any(mask):
                return float("inf"), ""
            k = int(np.flatnonzero(mask)[np.argmin(d[mask])])
            cp = self.geom.collisionPairs[k]
            return float(d[k]), f"{names[cp.first].name}/{names[cp.second].name}"
        s, sp = best(~self._is_env)
        e, ep = best(self._is_env)
        return Distances(s, sp, e, ep)

    def pair_distances(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> dict[str, float]:
        """Every checked pair's distance by ``"a/b"`` name (for tests and tuning)."""
        q = self._set(q_arm, widths)
        self._pin.computeDistances(self.model, self.data, self.geom, self.gdata, q)
        names = self.geom.geometryObjects
        return {f"{names[cp.first].name}/{names[cp.second].name}": float(r.min_distance)
                for cp, r in zip(self.geom.collisionPairs, self.gdata.distanceResults)}

    def gravity(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> np.ndarray:
        """Gravity torques of the arm joints (Nm), command order."""
        q = self._set(q_arm, widths)
        g = self._pin.computeGeneralizedGravity(self.model, self.data, q)
        return np.asarray(g)[self._arm_v].copy()


def franka_geometry(urdf: Path, srdf: Path | None, package_dir: Path, arm_joints: tuple[str, ...],
                    gripper_joints: tuple[tuple[str, ...], ...], ee_frame: str,
                    table_z_m: float = 0.0, env_exclude: tuple[str, ...] = ("panda_link0",),
                    tip_prefixes: tuple[str, ...] = ("panda_leftfinger", "panda_rightfinger"),
                    ) -> RobotGeometry:
    """Panda geometry from its URDF (collision meshes) and SRDF (disabled pairs).

    ``env_exclude``: link-name prefixes not checked against the table (the base sits on it);
    the finger geometries (``tip_prefixes``) are checked by the table plane instead.

    Raises:
        ModelUnavailable: a joint or frame is not in the model.
    """
    import coal
    import pinocchio as pin
    model = pin.buildModelFromUrdf(str(urdf))
    geom = pin.buildGeomFromUrdf(model, str(urdf), pin.GeometryType.COLLISION,
                                 package_dirs=[str(package_dir)])
    geom.addAllCollisionPairs()
    if srdf is not None:
        pin.removeCollisionPairs(model, geom, str(srdf))
    tid = add_table(pin, coal, geom, table_z_m)
    tips = []
    for i, g in enumerate(geom.geometryObjects):
        if g.name.startswith(tip_prefixes):
            tips.append(g.name)
        elif i != tid and not g.name.startswith(env_exclude):
            geom.addCollisionPair(pin.CollisionPair(i, tid))
    return RobotGeometry(model, geom, arm_joints, gripper_joints,
                         1.0 / max(1, len(gripper_joints[0]) if gripper_joints else 1),
                         (ee_frame,), (tuple(tips),))


def build_geometry(robot_cfg, share_dir: Path | None = None, table_z_m: float = 0.0) -> RobotGeometry:
    """The robot's geometry from its RobotConfig (Franka: example-robot-data Panda; ALOHA:
    gym-aloha's MJCF through :mod:`vla_safety.aloha_geometry`).

    Raises:
        ModelUnavailable: no model for this robot or its files are missing.
    """
    if robot_cfg.robot == "aloha":
        from vla_safety.aloha_geometry import build_aloha_geometry
        return build_aloha_geometry(robot_cfg, table_z_m=table_z_m)
    if robot_cfg.robot != "franka":
        raise ModelUnavailable(f"no Pinocchio collision model for robot '{robot_cfg.robot}'")
    if share_dir is None:
        from vla_common.config import cmeel_share_dir
        share_dir = cmeel_share_dir()
    urdf, srdf = franka_paths(share_dir)
    arm = robot_cfg.arms[0]
    grip = (tuple(arm.gripper.joints),) if arm.gripper is not None else ()
    return franka_geometry(urdf, srdf, share_dir, robot_cfg.arm_joint_names, grip,
                           arm.ee_frame, table_z_m)
