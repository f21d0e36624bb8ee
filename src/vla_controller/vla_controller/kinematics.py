"""Robot kinematics and dynamics through Pinocchio (ROS-free).

``load_kinematics(robot_cfg)`` builds a Pinocchio model whose configuration vector is exactly the
config's arm joints in ``RobotConfig.arm_joint_names`` order (grippers are not part of the model;
their fingers are fixed):

- Franka: example-robot-data ``panda.urdf`` (finger joints locked closed).
- ALOHA: gym-aloha's ``bimanual_viperx_transfer_cube.xml`` compiled by MuJoCo, then converted body
  by body into a Pinocchio model (``pin.buildModelFromMJCF`` cannot read these files). MuJoCo names
  ``vx300s_left/<x>`` become ``left_<x>`` (joints and body frames), the arm base body
  ``vx300s_left`` becomes frame ``left_base_link``, and a TCP frame ``left_gripper_tcp`` sits
  ``ALOHA_TCP_OFFSET_M`` along the gripper link's x axis (between the finger pads).

All poses are expressed in the model's world frame (Franka: ``panda_link0``; ALOHA: MJCF world).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin

from vla_common.config import ConfigError, RobotConfig, cmeel_share_dir

ALOHA_TCP_OFFSET_M = 0.13          # gripper_link origin -> middle of the finger pads (x axis)
ALOHA_PREFIXES = {"vx300s_left": "left", "vx300s_right": "right"}
FRANKA_FINGERS_LOCKED_M = 0.0      # finger joints are fixed here in the arm model


def aloha_mjcf_path(robot_cfg: RobotConfig | None = None) -> Path:
    """Path of the gym-aloha scene MJCF (read by path; gym_aloha is never imported).

    Raises:
        ConfigError: the file is not installed.
    """
    import sysconfig
    rel = "gym_aloha/assets/bimanual_viperx_transfer_cube.xml"
    if robot_cfg is not None and robot_cfg.description.get("mjcf"):
        rel = robot_cfg.description["mjcf"]
    p = Path(rel) if os.path.isabs(rel) else Path(sysconfig.get_paths()["purelib"]) / rel
    if not p.is_file():
        raise ConfigError(f"ALOHA MJCF not found at {p}: is gym-aloha installed?")
    return p


def franka_urdf_path(robot_cfg: RobotConfig | None = None) -> Path:
    """Path of example-robot-data's panda.urdf under the cmeel prefix.

    Raises:
        ConfigError: the file is not installed.
    """
    rel = "example-robot-data/robots/panda_description/urdf/panda.urdf"
    if robot_cfg is not None and robot_cfg.description.get("urdf"):
        rel = robot_cfg.description["urdf"]
    p = Path(rel) if os.path.isabs(rel) else cmeel_share_dir() / rel
    if not p.is_file():
        raise ConfigError(f"URDF not found at {p}: is example-robot-data installed?")
    return p


@dataclass
class Kinematics:
    """A Pinocchio model of all arms with the config's joint order.

    Attributes:
        model: the ``pinocchio.Model`` (nq == nv == number of arm joints).
        data: a ``pinocchio.Data`` for it (not thread-safe: one Kinematics per thread).
        joint_names: arm joint names, the order of q.
        ee_frames: arm name -> end-effector frame name.
        arm_indices: arm name -> indices of that arm's joints in q.
        q_min_rad, q_max_rad: position limits from the robot config.
    """
    model: pin.Model
    data: pin.Data
    joint_names: tuple[str, ...]
    ee_frames: dict[str, str]
    arm_indices: dict[str, np.ndarray]
    q_min_rad: np.ndarray
    q_max_rad: np.ndarray

    @property
    def nq(self) -> int:
        return self.model.nq

    def frame_id(self, frame: str) -> int:
        """Pinocchio frame index of ``frame``.

        Raises:
            KeyError: unknown frame name.
        """
        if not self.model.existFrame(frame):
            raise KeyError(f"unknown frame '{frame}'")
        return self.model.getFrameId(frame)

    def _check_q(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if q.shape != (self.nq,):
            raise ValueError(f"q must have shape ({self.nq},), got {q.shape}")
        if not np.all(np.isfinite(q)):
            raise ValueError("q must be finite")
        return q

    def fk(self, q: np.ndarray, frames: list[str] | tuple[str, ...] | None = None
           ) -> dict[str, np.ndarray]:
        """Forward kinematics.

        Args:
            q: joint positions (nq,), rad.
            frames: frame names to return (default: every frame of the model).
        Returns:
            frame name -> 4x4 homogeneous pose in the world frame.
        Raises:
            ValueError: wrong shape or non-finite q. KeyError: unknown frame.
        """
        q = self._check_q(q)
        pin.framesForwardKinematics(self.model, self.data, q)
        names = frames if frames is not None else [f.name for f in self.model.frames]
        return {n: self.data.oMf[self.frame_id(n)].homogeneous.copy() for n in names}

    def frame_pose(self, q: np.ndarray, frame: str) -> tuple[np.ndarray, np.ndarray]:
        """Position (3,) and rotation (3x3) of ``frame`` in the world frame.

        Raises:
            ValueError: wrong shape or non-finite q. KeyError: unknown frame.
        """
        q = self._check_q(q)
        fid = self.frame_id(frame)
        pin.forwardKinematics(self.model, self.data, q)
        M = pin.updateFramePlacement(self.model, self.data, fid)
        return M.translation.copy(), M.rotation.copy()

    def jacobian(self, q: np.ndarray, frame: str) -> np.ndarray:
        """Frame Jacobian (6 x nq): [linear; angular] velocity of the frame origin in world axes
        (pinocchio LOCAL_WORLD_ALIGNED).

        Raises:
            ValueError: wrong shape or non-finite q. KeyError: unknown frame.
        """
        q = self._check_q(q)
        fid = self.frame_id(frame)
        return pin.computeFrameJacobian(self.model, self.data, q, fid,
                                        pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)

    def pose_and_jacobian(self, q: np.ndarray, frame: str
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position, rotation, Jacobian) of ``frame`` in one kinematics pass (hot path)."""
        q = self._check_q(q)
        fid = self.frame_id(frame)
        J = pin.computeFrameJacobian(self.model, self.data, q, fid,
                                     pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
        M = pin.updateFramePlacement(self.model, self.data, fid)
        return M.translation.copy(), M.rotation.copy(), J

    def gravity(self, q: np.ndarray) -> np.ndarray:
        """Generalized gravity torques g(q) (nq,), Nm."""
        return pin.computeGeneralizedGravity(self.model, self.data, self._check_q(q)).copy()

    def coriolis(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """Coriolis/centrifugal torques C(q, dq) dq (nq,), Nm."""
        q = self._check_q(q)
        dq = self._check_q(dq)
        return pin.computeCoriolisMatrix(self.model, self.data, q, dq) @ dq

    def mass_matrix(self, q: np.ndarray) -> np.ndarray:
        """Joint-space inertia matrix M(q) (nq x nq), symmetric."""
        M = pin.crba(self.model, self.data, self._check_q(q))
        return np.triu(M) + np.triu(M, 1).T


def _finish(model: pin.Model, robot_cfg: RobotConfig) -> Kinematics:
    names = tuple(model.names[1:])
    want = robot_cfg.arm_joint_names
    if names != want:
        raise ConfigError(f"{robot_cfg.robot}: model joints {names} != config joints {want}")
    if model.nq != model.nv or model.nq != len(want):
        raise ConfigError(f"{robot_cfg.robot}: only 1-DoF joints supported (nq {model.nq})")
    ee = {a.name: a.ee_frame for a in robot_cfg.arms}
    for arm, f in ee.items():
        if not model.existFrame(f):
            raise ConfigError(f"{robot_cfg.robot}: arm '{arm}' ee_frame '{f}' not in the model")
    idx, k = {}, 0
    for a in robot_cfg.arms:
        idx[a.name] = np.arange(k, k + len(a.joints))
        k += len(a.joints)
    lim = robot_cfg.limits
    # Pinocchio's own limits follow the config (the single source of truth).
    model.lowerPositionLimit = np.array(lim.pos_min_rad, dtype=float)
    model.upperPositionLimit = np.array(lim.pos_max_rad, dtype=float)
    return Kinematics(model, model.createData(), names, ee, idx,
                      np.array(lim.pos_min_rad, dtype=float), np.array(lim.pos_max_rad, dtype=float))


def build_franka_model(urdf: Path, arm_joints: tuple[str, ...]) -> pin.Model:
    """Panda URDF -> Pinocchio model with every non-arm joint locked.

    Raises:
        ConfigError: an arm joint is missing from the URDF.
    """
    full = pin.buildModelFromUrdf(str(urdf))
    missing = [j for j in arm_joints if not full.existJointName(j)]
    if missing:
        raise ConfigError(f"{urdf}: joints {missing} not found")
    q_lock = pin.neutral(full)
    lock = []
    for jid in range(1, full.njoints):
        if full.names[jid] not in arm_joints:
            lock.append(jid)
            q_lock[full.joints[jid].idx_q] = FRANKA_FINGERS_LOCKED_M
    return pin.buildReducedModel(full, lock, q_lock) if lock else full


def _se3(quat_wxyz: np.ndarray, pos: np.ndarray) -> pin.SE3:
    w, x, y, z = quat_wxyz
    return pin.SE3(pin.Quaternion(w, x, y, z).normalized().toRotationMatrix(), np.asarray(pos, float))


def build_aloha_model(mjcf: Path) -> pin.Model:
    """Pinocchio model of both ViperX arms from MuJoCo's compiled kinematic tree.

    Walks the MuJoCo bodies under ``vx300s_left`` / ``vx300s_right``; each arm hinge becomes a
    Pinocchio revolute joint (same axis and anchor), every other body (gripper, fingers at their
    reference position) is welded to its parent joint with its inertia. Body frames are added
    under the renamed body names.

    Raises:
        ConfigError: the MJCF does not compile or has an unexpected joint layout.
    """
    import mujoco  # only needed here; the Franka path does not load MuJoCo

    try:
        mj = mujoco.MjModel.from_xml_path(str(mjcf))
    except Exception as e:  # noqa: BLE001 - MuJoCo raises plain ValueError/Exception
        raise ConfigError(f"cannot compile {mjcf}: {e}") from e
    model = pin.Model()
    model.name = "aloha"
    # mj body id -> (pin joint id, pin frame id, placement of the body frame in that joint)
    info: dict[int, tuple[int, int, pin.SE3]] = {0: (0, 0, pin.SE3.Identity())}

    def rename(mj_name: str) -> str | None:
        for pre, arm in ALOHA_PREFIXES.items():
            if mj_name == pre:
                return f"{arm}_base_link"
            if mj_name.startswith(pre + "/"):
                return f"{arm}_{mj_name[len(pre) + 1:]}"
        return None

    for b in range(1, mj.nbody):
        parent = int(mj.body_parentid[b])
        name = rename(mj.body(b).name)
        if parent not in info or name is None:
            continue
        pj, pf, M_pj_parent = info[parent]
        M = M_pj_parent * _se3(mj.body_quat[b], mj.body_pos[b])
        joint_id, M_body = pj, M
        for j in range(mj.body_jntadr[b], mj.body_jntadr[b] + mj.body_jntnum[b]):
            jname = rename(mj.joint(j).name)
            if jname is None or jname.endswith("finger"):
                continue  # fingers: gripper DoFs, fixed at their reference in the arm model
            if mj.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE or joint_id != pj:
                raise ConfigError(f"{mjcf}: joint {mj.joint(j).name}: only one hinge per body")
            anchor = pin.SE3(np.eye(3), mj.jnt_pos[j].copy())
            axis = mj.jnt_axis[j] / np.linalg.norm(mj.jnt_axis[j])
            lo, hi = mj.jnt_range[j]
            joint_id = model.addJoint(pj, pin.JointModelRevoluteUnaligned(axis), M * anchor, jname,
                                      np.array([1e3]), np.array([1e3]), np.array([lo]),
                                      np.array([hi]))
            M_body = anchor.inverse()
        R_i = _se3(mj.body_iquat[b], np.zeros(3)).rotation
        inertia = pin.Inertia(float(mj.body_mass[b]), mj.body_ipos[b].copy(),
                              R_i @ np.diag(mj.body_inertia[b]) @ R_i.T)
        model.appendBodyToJoint(joint_id, M_body.act(inertia), pin.SE3.Identity())
        fid = model.addFrame(pin.Frame(name, joint_id, pf, M_body, pin.FrameType.BODY))
        info[b] = (joint_id, fid, M_body)
        if name.endswith("_gripper_link"):
            arm = name[: -len("_gripper_link")]
            tcp = M_body * pin.SE3(np.eye(3), np.array([ALOHA_TCP_OFFSET_M, 0.0, 0.0]))
            model.addFrame(pin.Frame(f"{arm}_gripper_tcp", joint_id, fid, tcp, pin.FrameType.OP_FRAME))
    model.gravity = pin.Motion(np.r_[mj.opt.gravity, 0.0, 0.0, 0.0])
    return model


def load_kinematics(robot_cfg: RobotConfig) -> Kinematics:
    """Build the Pinocchio kinematics of ``robot_cfg``'s arms.

    Args:
        robot_cfg: loaded robot config (franka or aloha).
    Returns:
        a ``Kinematics`` whose q follows ``robot_cfg.arm_joint_names``.
    Raises:
        ConfigError: unknown robot, missing description files, or joint/frame mismatch.
    """
    if robot_cfg.description.get("urdf"):
        model = build_franka_model(franka_urdf_path(robot_cfg), robot_cfg.arm_joint_names)
    elif robot_cfg.description.get("mjcf"):
        model = build_aloha_model(aloha_mjcf_path(robot_cfg))
    else:
        raise ConfigError(f"{robot_cfg.robot}: description needs 'urdf' or 'mjcf'")
    return _finish(model, robot_cfg)
