"""Robot geometry for the gate (ROS-free): end-effector position, self- and environment-collision
distances and gravity torques from Pinocchio + coal.

Franka: the example-robot-data Panda URDF (collision meshes) with the SRDF's disabled pairs.
The environment is a table slab whose top face is the plane ``z = table_z_m`` in the base frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


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


class RobotGeometry:
    """Pinocchio model + collision model of one robot, addressed in command-DoF order.

    Args:
        urdf, srdf: robot description files.
        package_dir: directory that ``package://`` URIs resolve against.
        arm_joints: arm joint names in command order (a subset of the URDF's joints).
        gripper_joints: per gripper DoF, the URDF finger joints it drives (each finger
            gets width / len(fingers)); same order as the grippers in the command vector.
        ee_frame: frame whose origin the geofence checks.
        table_z_m: height of the table top in the base frame.
        env_exclude: link-name prefixes not checked against the table (the base sits on it).
    Raises:
        ModelUnavailable: a joint or frame is not in the model.
    """

    def __init__(self, urdf: Path, srdf: Path | None, package_dir: Path,
                 arm_joints: tuple[str, ...], gripper_joints: tuple[tuple[str, ...], ...],
                 ee_frame: str, table_z_m: float = 0.0,
                 env_exclude: tuple[str, ...] = ("panda_link0",)):
        import coal
        import pinocchio as pin
        self._pin = pin
        self.model = pin.buildModelFromUrdf(str(urdf))
        self.geom = pin.buildGeomFromUrdf(self.model, str(urdf), pin.GeometryType.COLLISION,
                                          package_dirs=[str(package_dir)])
        self.geom.addAllCollisionPairs()
        if srdf is not None:
            pin.removeCollisionPairs(self.model, self.geom, str(srdf))
        n_self = len(self.geom.collisionPairs)
        slab = coal.Box(4.0, 4.0, 0.2)
        pose = pin.SE3(np.eye(3), np.array([0.0, 0.0, table_z_m - 0.1]))
        tid = self.geom.addGeometryObject(pin.GeometryObject("table", 0, 0, pose, slab))
        for i, g in enumerate(self.geom.geometryObjects):
            if i != tid and not g.name.startswith(env_exclude):
                self.geom.addCollisionPair(pin.CollisionPair(i, tid))
        self._is_env = np.arange(len(self.geom.collisionPairs)) >= n_self
        self.data = self.model.createData()
        self.gdata = pin.GeometryData(self.geom)
        self._q = pin.neutral(self.model)
        self._arm_idx = []
        for j in arm_joints:
            if not self.model.existJointName(j):
                raise ModelUnavailable(f"joint '{j}' not in {urdf}")
            self._arm_idx.append(self.model.joints[self.model.getJointId(j)].idx_q)
        self._grip_idx = []
        for fingers in gripper_joints:
            idx = []
            for j in fingers:
                if not self.model.existJointName(j):
                    raise ModelUnavailable(f"finger joint '{j}' not in {urdf}")
                idx.append(self.model.joints[self.model.getJointId(j)].idx_q)
            self._grip_idx.append(idx)
        if not self.model.existFrame(ee_frame):
            raise ModelUnavailable(f"frame '{ee_frame}' not in {urdf}")
        self._ee = self.model.getFrameId(ee_frame)
        self.n_arm = len(arm_joints)
        self._arm_v = [self.model.joints[self.model.getJointId(j)].idx_v for j in arm_joints]

    def _set(self, q_arm: np.ndarray, widths: np.ndarray) -> np.ndarray:
        q = self._q.copy()
        q[self._arm_idx] = q_arm
        for idx, w in zip(self._grip_idx, widths):
            q[idx] = w / len(idx)
        return q

    def ee_position(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> np.ndarray:
        """End-effector frame origin in the base frame (m).

        Args:
            q_arm: arm joint positions in command order.
            widths: gripper openings (m), one per gripper.
        Returns:
            ``(3,)`` position.
        """
        q = self._set(q_arm, widths)
        self._pin.framesForwardKinematics(self.model, self.data, q)
        return self.data.oMf[self._ee].translation.copy()

    def distances(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> Distances:
        """Minimum self-collision and table distance over all checked pairs (~2 ms: Franka)."""
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

    def gravity(self, q_arm: np.ndarray, widths: np.ndarray = ()) -> np.ndarray:
        """Gravity torques of the arm joints (Nm), command order."""
        q = self._set(q_arm, widths)
        g = self._pin.computeGeneralizedGravity(self.model, self.data, q)
        return np.asarray(g)[self._arm_v].copy()


def build_geometry(robot_cfg, share_dir: Path | None = None, table_z_m: float = 0.0) -> RobotGeometry:
    """The robot's geometry from its RobotConfig.

    Franka: example-robot-data Panda. ALOHA: needs ``vla_controller.kinematics`` (not available
    when this was written), so it raises :class:`ModelUnavailable` and the caller disables
    the geometric checks (documented in docs/SAFETY.md).

    Raises:
        ModelUnavailable: no model for this robot.
    """
    if robot_cfg.robot != "franka":
        raise ModelUnavailable(f"no Pinocchio collision model for robot '{robot_cfg.robot}'")
    if share_dir is None:
        from vla_common.config import cmeel_share_dir
        share_dir = cmeel_share_dir()
    urdf, srdf = franka_paths(share_dir)
    arm = robot_cfg.arms[0]
    grip = (tuple(arm.gripper.joints),) if arm.gripper is not None else ()
    return RobotGeometry(urdf, srdf, share_dir, robot_cfg.arm_joint_names, grip,
                         arm.ee_frame, table_z_m)
