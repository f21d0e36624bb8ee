"""Damped-least-squares inverse kinematics on the MuJoCo model via mj_jacSite (ROS-free).

Uses its own MjData so solving never disturbs the simulation.
"""
from __future__ import annotations

import mujoco
import numpy as np


def yaw_down_rotation(yaw_rad: float) -> np.ndarray:
    """Rotation of a tool pointing straight down (tool z = -world z), tool x at ``yaw_rad``.

    Returns:
        3x3 rotation matrix Rz(yaw) @ Rx(pi).
    """
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def rotation_error(r_cur: np.ndarray, r_des: np.ndarray) -> np.ndarray:
    """Axis-angle-like orientation error (world frame) that drives ``r_cur`` to ``r_des``."""
    m = r_cur @ r_des.T  # sum_i cur_i x des_i, written out (np.cross is slow for 3-vectors)
    return 0.5 * np.array([m[1, 2] - m[2, 1], m[2, 0] - m[0, 2], m[0, 1] - m[1, 0]])


class DlsIk:
    """DLS IK for one arm's tool site.

    Args:
        model: the compiled MuJoCo model.
        joint_names: MJCF joints of the arm (the solved DoFs).
        site: MJCF site of the tool centre point.
        damping: DLS lambda.
        rot_weight: weight of orientation error vs. position error (m per rad).
        posture: joint posture the null space is pulled towards (None: none).
    Raises:
        ValueError: unknown joint or site.
    """

    def __init__(self, model: mujoco.MjModel, joint_names, site: str, damping: float = 0.05,
                 rot_weight: float = 0.3, posture: np.ndarray | None = None, posture_gain: float = 0.05):
        self.model = model
        self.data = mujoco.MjData(model)
        jids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in joint_names]
        if min(jids) < 0:
            raise ValueError(f"unknown joint among {list(joint_names)}")
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        if self.site < 0:
            raise ValueError(f"unknown site '{site}'")
        self.qadr = np.array([model.jnt_qposadr[j] for j in jids])
        self.vadr = np.array([model.jnt_dofadr[j] for j in jids])
        self.lo = model.jnt_range[jids, 0].copy()
        self.hi = model.jnt_range[jids, 1].copy()
        self.damping = damping
        self.rot_weight = rot_weight
        self.posture = None if posture is None else np.asarray(posture, float)
        self.posture_gain = posture_gain
        self._jp = np.zeros((3, model.nv))
        self._jr = np.zeros((3, model.nv))

    def fk(self, q: np.ndarray, full_qpos: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Tool position and rotation for arm joints ``q`` (other joints from ``full_qpos``)."""
        if full_qpos is not None:
            self.data.qpos[:] = full_qpos
        self.data.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self.site].copy(), self.data.site_xmat[self.site].reshape(3, 3).copy()

    def solve(self, q_init: np.ndarray, pos: np.ndarray, rot: np.ndarray | None = None,
              iters: int = 30, tol_m: float = 2e-4, full_qpos: np.ndarray | None = None,
              max_step_rad: float = 0.2) -> tuple[np.ndarray, float]:
        """Solve for joints reaching ``pos`` (and ``rot`` if given), starting at ``q_init``.

        Returns:
            (q, residual position error in m). q is clipped to the joint limits.
        """
        q = np.asarray(q_init, float).copy()
        if full_qpos is not None:
            self.data.qpos[:] = full_qpos
        err_p = np.inf
        for _ in range(iters):
            self.data.qpos[self.qadr] = q
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)
            x = self.data.site_xpos[self.site]
            e_p = pos - x
            err_p = float(np.linalg.norm(e_p))
            mujoco.mj_jacSite(self.model, self.data, self._jp, self._jr, self.site)
            if rot is not None:
                e_r = rotation_error(self.data.site_xmat[self.site].reshape(3, 3), rot)
                e = np.concatenate([e_p, self.rot_weight * e_r])
                jac = np.vstack([self._jp[:, self.vadr], self.rot_weight * self._jr[:, self.vadr]])
                done = err_p < tol_m and np.linalg.norm(e_r) < 2e-3
            else:
                e, jac = e_p, self._jp[:, self.vadr]
                done = err_p < tol_m
            if done:
                break
            jjt = jac @ jac.T + self.damping ** 2 * np.eye(jac.shape[0])
            dq = jac.T @ np.linalg.solve(jjt, e)
            if self.posture is not None:
                pinv = jac.T @ np.linalg.inv(jjt)
                null = np.eye(len(q)) - pinv @ jac
                dq += null @ (self.posture_gain * (self.posture - q))
            n = np.max(np.abs(dq))
            if n > max_step_rad:
                dq *= max_step_rad / n
            q = np.clip(q + dq, self.lo, self.hi)
        return q, err_p
