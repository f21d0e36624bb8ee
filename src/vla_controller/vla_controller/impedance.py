"""Joint and Cartesian impedance laws with torque and torque-rate saturation (ROS-free).

Joint impedance:      tau = K (q_d - q) + D (dq_d - dq) + g(q) + C(q, dq) dq
Cartesian impedance:  tau = J^T (K_x e - D_x J dq) + N (K_n (q_n - q) - D_n dq) + g(q) + C dq
  with e = [p_d - p; log(R_d R^T)] in world axes, J the LOCAL_WORLD_ALIGNED frame Jacobian,
  N = I - J^T J^T# the dynamically-unweighted null-space projector with a damped pseudo-inverse
  (as in franka_ros2's example). Gravity/Coriolis terms can be switched off: libfranka adds
  gravity itself on the real robot.

Discrete-time damping cap: a damping torque computed from the measured velocity and held for one
period dt is unstable once b_ii * dt / M_ii(q) > 2 (light wrist links, no motor armature in a
simulator, 500 Hz sim-time ticks). With ``damping_cap`` > 0 each joint's effective damping b_ii
is scaled down to at most ``damping_cap * M_ii(q) / dt``.

Every torque passes ``TorqueSaturator``: |tau| <= tau_max and |tau - tau_prev| <= rate_max * dt.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_controller.ik import pose_error
from vla_controller.kinematics import Kinematics


def damping_scale(kin: Kinematics, q: np.ndarray, b_diag: np.ndarray, dt_s: float,
                  cap: float, idx: np.ndarray | None = None) -> np.ndarray:
    """Per-joint factor in (0, 1] keeping b_ii * dt / M_ii(q) <= cap (ones if cap <= 0).

    Args:
        kin: model. q: full configuration (nq,).
        b_diag: effective damping of the joints ``idx`` (len(idx),), >= 0.
        dt_s: control period (non-positive or non-finite: ones).
        cap: allowed b dt / M ratio.
        idx: joint indices b_diag refers to (default all joints).
    Returns:
        factors (len(b_diag),).
    """
    b_diag = np.abs(np.asarray(b_diag, dtype=float))
    if cap <= 0 or not np.isfinite(dt_s) or dt_s <= 0:
        return np.ones(len(b_diag))
    m = np.diag(kin.mass_matrix(q))
    m = m if idx is None else m[idx]
    return np.minimum(1.0, cap * m / dt_s / np.maximum(b_diag, 1e-12))


class TorqueSaturator:
    """Clamps torque magnitude and rate of change against the previous output.

    Args:
        tau_max: (n,) > 0, Nm. rate_max: (n,) > 0, Nm/s.
    """

    def __init__(self, tau_max: np.ndarray, rate_max: np.ndarray):
        self.tau_max = np.asarray(tau_max, dtype=float)
        self.rate_max = np.asarray(rate_max, dtype=float)
        if self.tau_max.shape != self.rate_max.shape or np.any(self.tau_max <= 0) or np.any(
                self.rate_max <= 0):
            raise ValueError("tau_max and rate_max must be positive arrays of the same shape")
        self.prev: np.ndarray | None = None

    def reset(self, tau: np.ndarray | None = None) -> None:
        """Forget (or set) the previous torque; the next output is then only magnitude-clamped."""
        self.prev = None if tau is None else np.clip(np.asarray(tau, float), -self.tau_max,
                                                     self.tau_max)

    def __call__(self, tau: np.ndarray, dt_s: float) -> np.ndarray:
        """Saturate ``tau``.

        Args:
            tau: desired torque (n,). Non-finite entries are replaced by the previous output
                (or 0): never pass NaN on.
            dt_s: time since the previous output (> 0; non-positive means rate step 0).
        Returns:
            saturated torque (n,).
        """
        tau = np.array(tau, dtype=float)
        bad = ~np.isfinite(tau)
        if np.any(bad):
            tau[bad] = 0.0 if self.prev is None else self.prev[bad]
        out = np.clip(tau, -self.tau_max, self.tau_max)
        if self.prev is not None:
            step = self.rate_max * max(float(dt_s), 0.0) if np.isfinite(dt_s) else 0.0
            out = np.clip(out, self.prev - step, self.prev + step)
        self.prev = out
        return out.copy()


@dataclass(frozen=True)
class JointImpedanceGains:
    stiffness: np.ndarray      # (n,) Nm/rad
    damping: np.ndarray        # (n,) Nm s/rad


class JointImpedance:
    """Joint impedance over all model joints.

    Args:
        kin: kinematics/dynamics model.
        gains: per-joint stiffness and damping.
        saturator: torque/torque-rate clamp.
        gravity, coriolis: add g(q) / C(q, dq) dq.
    """

    def __init__(self, kin: Kinematics, gains: JointImpedanceGains, saturator: TorqueSaturator,
                 gravity: bool = True, coriolis: bool = True, damping_cap: float = 1.0):
        n = kin.nq
        if np.shape(gains.stiffness) != (n,) or np.shape(gains.damping) != (n,):
            raise ValueError(f"joint impedance gains need {n} values")
        if np.any(np.asarray(gains.stiffness) < 0) or np.any(np.asarray(gains.damping) < 0):
            raise ValueError("joint impedance gains must be >= 0")
        self.kin, self.gains, self.sat = kin, gains, saturator
        self.gravity, self.coriolis = gravity, coriolis
        self.damping_cap = damping_cap

    def feedforward(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        tau = np.zeros(self.kin.nq)
        if self.gravity:
            tau += self.kin.gravity(q)
        if self.coriolis:
            tau += self.kin.coriolis(q, dq)
        return tau

    def torque(self, q: np.ndarray, dq: np.ndarray, q_d: np.ndarray, dq_d: np.ndarray,
               dt_s: float) -> np.ndarray:
        """Saturated joint impedance torque (n,), Nm.

        Args:
            q, dq: measured positions/velocities. q_d, dq_d: targets. dt_s: control period.
        """
        d = self.gains.damping * damping_scale(self.kin, q, self.gains.damping, dt_s,
                                               self.damping_cap)
        tau = self.gains.stiffness * (q_d - q) + d * (dq_d - dq) + self.feedforward(q, dq)
        return self.sat(tau, dt_s)


@dataclass(frozen=True)
class CartesianImpedanceGains:
    trans_stiffness_n_m: float = 150.0
    rot_stiffness_nm_rad: float = 10.0
    nullspace_stiffness: float = 20.0
    trans_damping: float = -1.0        # < 0: 2 sqrt(K) (franka_ros2 example convention)
    rot_damping: float = -1.0
    nullspace_damping: float = -1.0
    pinv_damping: float = 0.2          # lambda of the damped pseudo-inverse in N

    def d(self, damping: float, k: float) -> float:
        return 2.0 * np.sqrt(k) if damping < 0 else damping


class CartesianImpedance:
    """Cartesian impedance of each arm's ee frame with null-space joint stiffness.

    Args:
        kin: model. gains: Cartesian gains (same for every arm). saturator: torque clamp.
        gravity, coriolis: add g(q) / C(q, dq) dq.
        damping_cap: discrete-time damping cap (module doc), 0 = off.
    """

    def __init__(self, kin: Kinematics, gains: CartesianImpedanceGains,
                 saturator: TorqueSaturator, gravity: bool = True, coriolis: bool = True,
                 damping_cap: float = 1.0):
        self.kin, self.g, self.sat = kin, gains, saturator
        self.damping_cap = damping_cap
        self.gravity, self.coriolis = gravity, coriolis
        kt, kr = gains.trans_stiffness_n_m, gains.rot_stiffness_nm_rad
        if min(kt, kr, gains.nullspace_stiffness) < 0 or gains.pinv_damping <= 0:
            raise ValueError("Cartesian stiffness must be >= 0 and pinv_damping > 0")
        self.K = np.diag([kt] * 3 + [kr] * 3)
        self.D = np.diag([gains.d(gains.trans_damping, kt)] * 3
                         + [gains.d(gains.rot_damping, kr)] * 3)
        self.kn = gains.nullspace_stiffness
        self.dn = gains.d(gains.nullspace_damping, gains.nullspace_stiffness)

    def torque(self, q: np.ndarray, dq: np.ndarray,
               targets: dict[str, tuple[np.ndarray, np.ndarray]], q_null: np.ndarray,
               dt_s: float) -> np.ndarray:
        """Saturated Cartesian impedance torque (n,), Nm.

        Args:
            q, dq: measured state (n,).
            targets: arm name -> (p_d (3,), R_d (3x3)) in world axes.
            q_null: null-space posture (n,).
            dt_s: control period.
        """
        tau = np.zeros(self.kin.nq)
        lam2 = self.g.pinv_damping ** 2
        for arm, (p_d, R_d) in targets.items():
            idx = self.kin.arm_indices[arm]
            p, R, Jf = self.kin.pose_and_jacobian(q, self.kin.ee_frames[arm])
            J = Jf[:, idx]
            ep, er = pose_error(p, R, p_d, R_d)
            e = np.r_[ep, er]
            JT_pinv = np.linalg.solve(J @ J.T + lam2 * np.eye(6), J)   # (J^T)# = (J J^T + l^2)^-1 J
            N = np.eye(len(idx)) - J.T @ JT_pinv
            B = J.T @ self.D @ J + self.dn * N          # joint-space damping of both tasks
            tau_damp = -B @ dq[idx]
            if self.damping_cap > 0:
                tau_damp *= damping_scale(self.kin, q, np.diag(B), dt_s, self.damping_cap, idx)
            tau[idx] = J.T @ (self.K @ e) + N @ (self.kn * (q_null[idx] - q[idx])) + tau_damp
        if self.gravity:
            tau += self.kin.gravity(q)
        if self.coriolis:
            tau += self.kin.coriolis(q, dq)
        return self.sat(tau, dt_s)
