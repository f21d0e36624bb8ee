"""Damped least-squares closed-loop inverse kinematics (ROS-free).

One end-effector frame per solve, over that arm's joint subset. Each iteration:

- error e = [p_d - p; w_rot * log(R_d R^T)] (world axes), each part clipped to a maximum step so
  the linearization stays valid far from the target;
- singularity-robust damping (Chiaverini/Nakamura): lambda^2 = lambda_0^2, raised smoothly up to
  lambda_max^2 as the smallest singular value of J drops below ``sigma_threshold``: the joint step
  stays bounded (|dq| <= |e| / (2 lambda)) at and near singularities;
- joint-limit avoidance: a null-space task pushes joints out of the outer ``limit_margin`` of
  their range, and joints that would cross a limit are locked (active set) and the step is
  re-solved with the remaining joints, so the ee task is not lost by clipping;
- a null-space posture task pulls towards ``q_posture`` (projector from the exact-rank SVD, so it
  never leaks into the ee task; on 6-DoF arms it is inactive away from singularities);
- the step is clipped to ``step_max_rad`` and q to the joint limits.

Unreachable targets converge to a local minimum of the weighted error (the closest reachable pose
seen from the seed); random restarts keep the best solution found.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from vla_controller.kinematics import Kinematics


@dataclass(frozen=True)
class IKConfig:
    """IK solver settings (units in names)."""
    max_iters: int = 150
    tol_pos_m: float = 1e-4
    tol_rot_rad: float = 1e-3
    rot_weight_m_per_rad: float = 0.3    # how many metres of error one radian is worth
    damping: float = 1e-4                # lambda_0
    damping_max: float = 0.05            # lambda_max near singularities
    sigma_threshold: float = 0.04        # smallest singular value where extra damping starts
    damping_err_ref: float = 0.01        # weighted error (m) at which the extra damping is full
    step_max_rad: float = 0.25           # per-iteration joint step (inf-norm)
    err_pos_max_m: float = 0.2           # error clip per iteration
    err_rot_max_rad: float = 0.6
    posture_gain: float = 0.05           # null-space pull per iteration (fraction of offset)
    limit_gain: float = 0.5              # null-space push out of the limit margin per iteration
    limit_margin: float = 0.05           # fraction of each joint's range treated as near-limit
    restarts: int = 20                   # extra random seeds when not converged
    stall_iters: int = 12                # give up a seed after this many iters without 1% gain
    seed: int = 0

    def __post_init__(self):
        for k in ("tol_pos_m", "tol_rot_rad", "rot_weight_m_per_rad", "damping_max",
                  "damping_err_ref", "sigma_threshold", "step_max_rad", "err_pos_max_m", "err_rot_max_rad"):
            v = getattr(self, k)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"IKConfig.{k} must be finite and > 0, got {v}")
        if self.max_iters < 1 or self.restarts < 0 or self.stall_iters < 1:
            raise ValueError("IKConfig.max_iters must be >= 1 and restarts >= 0")
        if not (0 <= self.damping <= self.damping_max) or not (0 <= self.posture_gain <= 1):
            raise ValueError("IKConfig: need 0 <= damping <= damping_max, 0 <= posture_gain <= 1")
        if not (0 <= self.limit_gain <= 1) or not (0 <= self.limit_margin < 0.5):
            raise ValueError("IKConfig: need 0 <= limit_gain <= 1, 0 <= limit_margin < 0.5")


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray            # full q (nq,), only the arm's joints changed
    pos_err_m: float
    rot_err_rad: float
    converged: bool
    iters: int


def pose_error(p: np.ndarray, R: np.ndarray, p_d: np.ndarray, R_d: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Position error p_d - p and rotation error log(R_d R^T) (world axes), both (3,)."""
    return p_d - p, pin.log3(R_d @ R.T)


def _clip_norm(v: np.ndarray, n_max: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v * (n_max / n) if n > n_max else v


def dls_step(J: np.ndarray, e: np.ndarray, cfg: IKConfig, null_dq: np.ndarray | None = None,
             locked: np.ndarray | None = None) -> np.ndarray:
    """One singularity-robust DLS step with a null-space secondary task.

    Args:
        J: task Jacobian (m x n).
        e: task error (m,).
        cfg: solver settings (damping, sigma threshold, step clip).
        null_dq: desired joint motion (n,) projected into the null space of the (exact-rank) task.
        locked: boolean mask (n,) of joints that must not move (at a limit, pushing out).
    Returns:
        dq (n,), inf-norm <= cfg.step_max_rad, finite for any finite input; the task part has
        norm <= |e| / (2 lambda) however singular J is (lambda >= damping_max * sqrt(fade)
        at a singularity, fade = min(1, |e| / damping_err_ref)).
    Raises:
        ValueError: non-finite J or e, or shape mismatch.
    """
    J = np.array(J, dtype=float)
    e = np.asarray(e, dtype=float)
    if J.ndim != 2 or e.shape != (J.shape[0],):
        raise ValueError(f"dls_step: J {J.shape} and e {e.shape} do not match")
    if not (np.all(np.isfinite(J)) and np.all(np.isfinite(e))):
        raise ValueError("dls_step: J and e must be finite")
    n = J.shape[1]
    if locked is not None:
        J[:, locked] = 0.0
    U, S, Vt = np.linalg.svd(J, full_matrices=False)
    # fewer columns than rows: rank deficient (locked columns are zero, so they count too)
    s_min = S[-1] if len(S) == J.shape[0] else 0.0
    lam2 = cfg.damping ** 2
    if s_min < cfg.sigma_threshold:
        # Levenberg-Marquardt flavour: the extra damping fades with the error, so targets at a
        # singular configuration still converge, while big errors there give bounded steps.
        fade = min(1.0, float(np.linalg.norm(e)) / cfg.damping_err_ref)
        lam2 += (1.0 - (s_min / cfg.sigma_threshold) ** 2) * fade * cfg.damping_max ** 2
    dq = Vt.T @ ((S / (S * S + lam2)) * (U.T @ e))
    if null_dq is not None:
        z = np.array(null_dq, dtype=float)
        if locked is not None:
            z[locked] = 0.0
        r = int(np.sum(S > 1e-9 * max(S[0], 1e-12))) if len(S) else 0
        Vr = Vt[:r]
        dq += z - Vr.T @ (Vr @ z)
    m = float(np.max(np.abs(dq))) if n else 0.0
    return dq * (cfg.step_max_rad / m) if m > cfg.step_max_rad else dq


def limit_repulsion(q: np.ndarray, q_min: np.ndarray, q_max: np.ndarray, margin: float
                    ) -> np.ndarray:
    """Joint motion (rad) pushing joints out of the outer ``margin`` fraction of their range:
    0 inside, growing linearly to ``margin * range`` at the limit (a null-space task)."""
    rng = q_max - q_min
    m = margin * rng
    lo = np.clip(q_min + m - q, 0.0, None)
    hi = np.clip(q - (q_max - m), 0.0, None)
    return lo - hi


class IKSolver:
    """DLS IK for one arm's end-effector frame over that arm's joints."""

    def __init__(self, kin: Kinematics, arm: str, cfg: IKConfig = IKConfig()):
        self.kin = kin
        self.arm = arm
        self.cfg = cfg
        self.frame = kin.ee_frames[arm]
        self.idx = kin.arm_indices[arm]
        self.q_min = kin.q_min_rad[self.idx]
        self.q_max = kin.q_max_rad[self.idx]
        self._rng = np.random.default_rng(cfg.seed)

    def _errors(self, q: np.ndarray, p_d: np.ndarray, R_d: np.ndarray):
        p, R, J = self.kin.pose_and_jacobian(q, self.frame)
        ep, er = pose_error(p, R, p_d, R_d)
        return ep, er, J[:, self.idx]

    def iterate(self, q: np.ndarray, p_d: np.ndarray, R_d: np.ndarray, iters: int,
                q_posture: np.ndarray | None = None) -> IKResult:
        """Run up to ``iters`` DLS iterations from ``q`` (no restarts): the tracking mode used
        every control tick, warm-started from the previous solution.

        Args:
            q: full seed configuration (nq,).
            p_d, R_d: target position (3,) and rotation (3x3) in world axes.
            iters: maximum iterations (>= 0).
            q_posture: full posture (nq,) for the null-space task (None = no posture task).
        Returns:
            IKResult with the arm's joints updated, errors at the returned q.
        """
        cfg = self.cfg
        q = np.clip(np.array(q, dtype=float), self.kin.q_min_rad, self.kin.q_max_rad)
        w = cfg.rot_weight_m_per_rad
        ep, er, J = self._errors(q, p_d, R_d)
        k = 0
        best_err, best_k = np.inf, 0
        for k in range(1, iters + 1):
            if np.linalg.norm(ep) < cfg.tol_pos_m and np.linalg.norm(er) < cfg.tol_rot_rad:
                k -= 1
                break
            err = float(np.hypot(np.linalg.norm(ep), w * np.linalg.norm(er)))
            if err < 0.99 * best_err:
                best_err, best_k = err, k
            elif k - best_k >= cfg.stall_iters:
                break   # stuck in a local minimum (limits): a restart is cheaper
            e = np.r_[_clip_norm(ep, cfg.err_pos_max_m), w * _clip_norm(er, cfg.err_rot_max_rad)]
            Jt = np.vstack([J[:3], w * J[3:]])
            qa = q[self.idx]
            null = cfg.limit_gain * limit_repulsion(qa, self.q_min, self.q_max, cfg.limit_margin)
            if q_posture is not None:
                null = null + cfg.posture_gain * (q_posture[self.idx] - qa)
            dq = dls_step(Jt, e, cfg, null)
            # active set: joints at a limit and pushed outwards are locked, the step re-solved
            locked = ((qa + dq <= self.q_min) & (dq < 0)) | ((qa + dq >= self.q_max) & (dq > 0))
            if np.any(locked) and not np.all(locked):
                dq = dls_step(Jt, e, cfg, null, locked)
            q[self.idx] = np.clip(qa + dq, self.q_min, self.q_max)
            ep, er, J = self._errors(q, p_d, R_d)
        pe, re = float(np.linalg.norm(ep)), float(np.linalg.norm(er))
        return IKResult(q, pe, re, pe < cfg.tol_pos_m and re < cfg.tol_rot_rad, k)

    def solve(self, q_seed: np.ndarray, p_d: np.ndarray, R_d: np.ndarray,
              q_posture: np.ndarray | None = None) -> IKResult:
        """Full solve: iterate from ``q_seed``, then from random seeds until converged.

        Args:
            q_seed: full seed configuration (nq,).
            p_d: target position (3,), m, world axes. R_d: target rotation (3x3).
            q_posture: null-space posture (nq,), default the seed.
        Returns:
            the converged result, or the one with the smallest weighted error (closest pose).
        Raises:
            ValueError: non-finite or badly shaped inputs.
        """
        p_d = np.asarray(p_d, float)
        R_d = np.asarray(R_d, float)
        if p_d.shape != (3,) or R_d.shape != (3, 3):
            raise ValueError("IK target needs p_d (3,) and R_d (3, 3)")
        if not (np.all(np.isfinite(p_d)) and np.all(np.isfinite(R_d))):
            raise ValueError("IK target must be finite")
        q_seed = np.asarray(q_seed, float)
        post = q_seed if q_posture is None else np.asarray(q_posture, float)
        w = self.cfg.rot_weight_m_per_rad
        best = None
        for attempt in range(self.cfg.restarts + 1):
            seed = q_seed.copy()
            if attempt > 0:
                seed[self.idx] = self._rng.uniform(self.q_min, self.q_max)
            r = self.iterate(seed, p_d, R_d, self.cfg.max_iters, post)
            if best is None or np.hypot(r.pos_err_m, w * r.rot_err_rad) < np.hypot(
                    best.pos_err_m, w * best.rot_err_rad):
                best = r
            if r.converged:
                return r
        return best
