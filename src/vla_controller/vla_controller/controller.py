"""The controller core (ROS-free): targets in, joint commands out, time passed in.

``Controller.on_joint_state`` and ``Controller.on_target`` feed it; ``Controller.step(now_s)``
returns the command for this tick (or None while no fresh joint state exists):

1. target: the interpolated S1 target at now_s, or - with no target for ``target_timeout_s`` -
   the pose measured when the targets stopped (held until a new target arrives);
2. ee spaces: a few warm-started DLS IK iterations per tick turn the ee target into joints;
3. joint targets are clipped to the position limits and followed by a velocity- and
   acceleration-limited tracker (``motion_limits``; grippers: width range, speed, acceleration);
4. DoFs with an effort interface get a torque from the joint or Cartesian impedance law
   (Cartesian target = FK of the rate-limited joint target, null-space posture = that target),
   saturated in torque and torque rate; position DoFs get the joint target.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin

from vla_common.config import RobotConfig
from vla_controller import action_space as asp
from vla_controller.command_validation import TargetRejected, TargetValidator
from vla_controller.ik import IKConfig, IKSolver
from vla_controller.impedance import (CartesianImpedance, CartesianImpedanceGains, JointImpedance,
                                      JointImpedanceGains, TorqueSaturator)
from vla_controller.interpolation import TargetBuffer
from vla_controller.kinematics import Kinematics
from vla_controller.motion_limits import feedforward_velocity, limited_step

LAWS = ("auto", "joint_impedance", "cartesian_impedance")


@dataclass(frozen=True)
class ControllerConfig:
    """Controller parameters (every field is a ROS parameter of vla_controller).

    Empty gain tuples mean "robot default" (``default_joint_gains``).
    """
    rate_hz: float = 0.0                  # 0: 1000 Hz if any DoF is effort-driven, else 500 Hz
    action_space: str = asp.DEFAULT_SPACE
    control_law: str = "auto"             # for effort DoFs: auto (= joint_impedance) | ...
    target_timeout_s: float = 0.2         # no target for this long: hold the measured pose
    state_timeout_s: float = 0.1          # joint_states older than this: no command
    use_target_stamps: bool = True        # interpolate on ActionStep.header.stamp (else arrival)
    # the target is sampled this far behind the clock, so each tick falls between two samples of
    # the 200 Hz stream (which arrive a few ms late) and the segment's slope is fed forward
    target_delay_s: float = 0.01
    # feed the target's velocity forward: no lag on a stream within the limits, but a stream
    # that stops faster than the acceleration limit allows (a learned policy's usually does) is
    # overshot by up to v^2 / (2 a) plus the catch-up velocity. Off: the command never passes
    # the target (lag v^2 / (2 a) behind a target moving at v)
    velocity_feedforward: bool = False
    max_future_s: float = 2.0             # targets stamped further ahead are rejected
    max_target_age_s: float = 1.0         # older stamps are rejected (late ones are applied now)
    vel_limit_scale: float = 0.9          # joint command speed limit, fraction of vel_max
    acc_limit_scale: float = 0.9          # joint command acceleration limit, fraction of acc_max
    gripper_acc_max_m_s2: float = 2.0
    torque_limit_scale: float = 0.95      # fraction of effort_max
    torque_rate_limit_scale: float = 0.95  # fraction of effort_rate_max
    gravity_compensation: bool = True     # false on the real Franka (libfranka adds gravity)
    coriolis_compensation: bool = True
    damping_cap: float = 1.0              # max b*dt/M per joint (discrete stability), 0 = off
    joint_stiffness: tuple[float, ...] = ()
    joint_damping: tuple[float, ...] = ()
    cart_trans_stiffness_n_m: float = 150.0
    cart_rot_stiffness_nm_rad: float = 10.0
    cart_nullspace_stiffness: float = 20.0
    cart_pinv_damping: float = 0.2
    ik_iters_per_tick: int = 3
    ik_damping_max: float = 0.05
    heartbeat_period_s: float = 0.5

    def __post_init__(self):
        asp.check_space(self.action_space)
        if self.control_law not in LAWS:
            raise ValueError(f"control_law must be one of {LAWS}, got '{self.control_law}'")
        for k in ("target_timeout_s", "state_timeout_s", "max_future_s", "max_target_age_s",
                  "vel_limit_scale",
                  "acc_limit_scale", "gripper_acc_max_m_s2",
                  "torque_limit_scale", "torque_rate_limit_scale", "heartbeat_period_s",
                  "cart_pinv_damping", "ik_damping_max"):
            v = getattr(self, k)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"{k} must be finite and > 0, got {v}")
        if not np.isfinite(self.target_delay_s) or not 0 <= self.target_delay_s < self.max_future_s:
            raise ValueError(f"target_delay_s must be in [0, max_future_s), got {self.target_delay_s}")
        if not np.isfinite(self.damping_cap) or self.damping_cap < 0:
            raise ValueError(f"damping_cap must be >= 0, got {self.damping_cap}")
        if not np.isfinite(self.rate_hz) or self.rate_hz < 0:
            raise ValueError(f"rate_hz must be >= 0 (0 = auto), got {self.rate_hz}")
        if self.ik_iters_per_tick < 1:
            raise ValueError("ik_iters_per_tick must be >= 1")
        if len(self.joint_stiffness) != len(self.joint_damping):
            raise ValueError("joint_stiffness and joint_damping need the same length")


# Stiffer than franka_ros2's demo gains (REFERENCE.md: k 24..2) so the policy's targets are
# tracked; these are franka_ros (ROS 1) joint_impedance_example_controller's published gains.
FRANKA_JOINT_STIFFNESS = (600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0)
FRANKA_JOINT_DAMPING = (50.0, 50.0, 50.0, 20.0, 20.0, 20.0, 10.0)


def default_joint_gains(robot_cfg: RobotConfig) -> tuple[np.ndarray, np.ndarray]:
    """Robot default joint impedance gains (stiffness Nm/rad, damping Nm s/rad)."""
    if robot_cfg.arm_joint_names == tuple(f"panda_joint{i}" for i in range(1, 8)):
        return np.array(FRANKA_JOINT_STIFFNESS), np.array(FRANKA_JOINT_DAMPING)
    # otherwise: stiffness scaled to each joint's effort limit (0.5 rad error -> 50% effort)
    k = np.asarray(robot_cfg.limits.effort_max_nm) * 1.0
    return k, 2.0 * np.sqrt(k) * 0.3


@dataclass
class Command:
    """One tick's output, all arrays in ``names`` order (RobotConfig.command_names)."""
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray          # empty when no DoF is effort-driven (0 for position DoFs)
    holding: bool


@dataclass
class _State:
    t_s: float
    q: np.ndarray
    dq: np.ndarray
    grip: np.ndarray


@dataclass
class ControllerStatus:
    mode: str = "waiting_for_state"      # waiting_for_state | holding | tracking | state_stale
    state_rejected: Counter = field(default_factory=Counter)
    target_rejected_no_state: int = 0
    late_targets: int = 0
    ik_pos_err_m: float = 0.0
    ik_rot_err_rad: float = 0.0
    ticks: int = 0


class Controller:
    """See module doc. Not thread-safe: the node serialises calls with a lock.

    Args:
        robot_cfg: robot config (joint names, limits, command outputs of the run mode).
        kin: kinematics from ``load_kinematics(robot_cfg)``.
        cfg: controller parameters.
    Raises:
        ValueError: inconsistent gains or an arm whose DoFs mix position and effort.
    """

    def __init__(self, robot_cfg: RobotConfig, kin: Kinematics, cfg: ControllerConfig):
        self.robot, self.kin, self.cfg = robot_cfg, kin, cfg
        self.names = robot_cfg.command_names
        self.n = kin.nq
        self.arm_names = tuple(a.name for a in robot_cfg.arms)
        self.grippers = [a.gripper for a in robot_cfg.arms if a.gripper is not None]
        self.grip_min = np.array([g.width_min_m for g in self.grippers])
        self.grip_max = np.array([g.width_max_m for g in self.grippers])
        self.grip_speed = np.array([g.speed_max_m_s for g in self.grippers])
        iface = {j: o.interface for o in robot_cfg.interfaces.command_outputs for j in o.joints}
        self.effort_mask = np.array([iface[j] == "effort" for j in kin.joint_names])
        self.any_effort = bool(np.any(self.effort_mask))
        # command-name index of each arm joint and each gripper
        self.q_cmd_idx = np.array([self.names.index(j) for j in kin.joint_names])
        self.g_cmd_idx = np.array([self.names.index(g.name) for g in self.grippers], dtype=int)
        self.rate_hz = cfg.rate_hz or (1000.0 if self.any_effort else 500.0)
        self.period_s = 1.0 / self.rate_hz
        lim = robot_cfg.limits
        self.vel_max = np.asarray(lim.vel_max_rad_s) * cfg.vel_limit_scale
        self.acc_max = np.asarray(lim.acc_max_rad_s2) * cfg.acc_limit_scale
        self.grip_acc = np.full(len(self.grippers), cfg.gripper_acc_max_m_s2)
        sat = TorqueSaturator(np.asarray(lim.effort_max_nm) * cfg.torque_limit_scale,
                              np.asarray(lim.effort_rate_max_nm_s) * cfg.torque_rate_limit_scale)
        if cfg.joint_stiffness:
            k, d = np.asarray(cfg.joint_stiffness, float), np.asarray(cfg.joint_damping, float)
            if k.shape != (self.n,):
                raise ValueError(f"joint_stiffness needs {self.n} values, got {len(k)}")
        else:
            k, d = default_joint_gains(robot_cfg)
        law = "joint_impedance" if cfg.control_law == "auto" else cfg.control_law
        self.law_name = law
        g, c = cfg.gravity_compensation, cfg.coriolis_compensation
        if law == "joint_impedance":
            self.law = JointImpedance(kin, JointImpedanceGains(k, d), sat, g, c, cfg.damping_cap)
        else:
            self.law = CartesianImpedance(kin, CartesianImpedanceGains(
                cfg.cart_trans_stiffness_n_m, cfg.cart_rot_stiffness_nm_rad,
                cfg.cart_nullspace_stiffness, pinv_damping=cfg.cart_pinv_damping), sat, g, c,
                cfg.damping_cap)
        self.saturator = sat
        ik_cfg = IKConfig(damping_max=cfg.ik_damping_max)
        self.ik = {a: IKSolver(kin, a, ik_cfg) for a in self.arm_names}
        self.space = cfg.action_space
        self.validator = TargetValidator(asp.action_names(robot_cfg, self.space))
        self.ee_space = self.space in (asp.EE_POSE, asp.EE_DELTA)
        self.buffer = TargetBuffer(self._internal_dim(), quat_slices=self._quat_slices())
        self.status = ControllerStatus()
        self.state: _State | None = None
        self.last_target_s: float | None = None   # arrival time of the newest valid target
        self.hold: tuple[np.ndarray, np.ndarray] | None = None
        self.q_cmd: np.ndarray | None = None
        self.grip_cmd: np.ndarray | None = None
        self.v_cmd = np.zeros(self.n)
        self.gv_cmd = np.zeros(len(self.grippers))
        self.q_d_prev: np.ndarray | None = None   # ee spaces with feed-forward: last IK target
        self._zero_v, self._zero_gv = np.zeros(self.n), np.zeros(len(self.grippers))  # read-only
        self.q_ik: np.ndarray | None = None       # IK warm start (ee spaces)
        self.last_step_s: float | None = None

    # ---- internal target layout -------------------------------------------------------------
    # joint spaces: [q (n), gripper widths (g)]; ee spaces: [per arm p(3) + quat xyzw(4), grips]
    def _internal_dim(self) -> int:
        return (7 * len(self.arm_names) if self.ee_space else self.n) + len(self.grippers)

    def _quat_slices(self) -> tuple[slice, ...]:
        if not self.ee_space:
            return ()
        return tuple(slice(7 * i + 3, 7 * i + 7) for i in range(len(self.arm_names)))

    def _ee_of(self, q: np.ndarray) -> np.ndarray:
        out = []
        for a in self.arm_names:
            p, R = self.kin.frame_pose(q, self.kin.ee_frames[a])
            out += [p, pin.Quaternion(R).coeffs()]
        return np.concatenate(out)

    def _internal_of_joints(self, q: np.ndarray, grip: np.ndarray) -> np.ndarray:
        return np.r_[self._ee_of(q) if self.ee_space else q, grip]

    # ---- inputs ------------------------------------------------------------------------------
    def on_joint_state(self, names, position, velocity, now_s: float) -> bool:
        """Store a joint state (matched by name; extra names ignored).

        Returns:
            True if accepted; False (counted in status.state_rejected) if a needed joint is
            missing or a value is non-finite.
        """
        names = list(names)
        pos = np.asarray(position, dtype=float).reshape(-1)
        vel = np.asarray(velocity, dtype=float).reshape(-1)
        if len(pos) != len(names) or (len(vel) and len(vel) != len(names)):
            self.status.state_rejected["length_mismatch"] += 1
            return False
        idx = {n: i for i, n in enumerate(names)}
        need = list(self.kin.joint_names) + [g.name for g in self.grippers]
        missing = [n for n in need if n not in idx]
        if missing:
            self.status.state_rejected["missing_joint"] += 1
            return False
        sel = [idx[n] for n in need]
        p = pos[sel]
        v = vel[sel] if len(vel) else np.zeros(len(sel))
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(v))):
            self.status.state_rejected["non_finite"] += 1
            return False
        self.state = _State(float(now_s), p[:self.n], v[:self.n], p[self.n:])
        return True

    def on_target(self, names, values, stamp_s: float, now_s: float) -> None:
        """Validate and buffer one S1 target.

        Args:
            names, values: ActionStep names/values in the configured action space.
            stamp_s: time the action is meant for (0 = unset: use now_s).
            now_s: current time.
        Raises:
            TargetRejected: invalid target (counted); the previous valid target stays in use.
        """
        v = self.validator.validate(names, values)
        t = now_s
        if self.cfg.use_target_stamps and stamp_s > 0:
            if not np.isfinite(stamp_s) or stamp_s > now_s + self.cfg.max_future_s:
                self.validator.reject_stamp(f"stamp {stamp_s:.3f} too far ahead of {now_s:.3f}")
            if stamp_s < now_s - self.cfg.max_target_age_s:
                self.validator.reject_stamp(f"stamp {stamp_s:.3f} older than max_target_age_s "
                                            f"(now {now_s:.3f})")
            if stamp_s < now_s:
                self.status.late_targets += 1   # delivered late: applied now (buffer holds it)
            t = stamp_s
        needs_state = self.space in (asp.JOINT_DELTA, asp.EE_DELTA) or self.ee_space
        if needs_state and self.state is None:
            self.status.target_rejected_no_state += 1
            raise TargetRejected("no_state", "no joint state yet for a relative/ee target")
        internal = self._to_internal(v)
        anchor = None
        if self.q_cmd is not None:
            anchor = self._internal_of_joints(self.q_cmd, self.grip_cmd)
        if self.hold is not None:   # resuming after a hold: start from the held pose
            self.buffer.clear()
        self.hold = None
        self.buffer.push(t, internal, now_s - self.cfg.target_delay_s, anchor)
        self.last_target_s = float(now_s)

    def _to_internal(self, v: np.ndarray) -> np.ndarray:
        """Action-space vector (action_names order) -> internal absolute target."""
        out, grips, k = [], [], 0
        st = self.state
        for a in self.robot.arms:
            m = len(asp.arm_action_names(self.robot, self.space, a.name))
            x = v[k:k + m]
            k += m
            idx = self.kin.arm_indices[a.name]
            if self.space == asp.JOINT_POSITION:
                out.append(x)
            elif self.space == asp.JOINT_DELTA:
                out.append(st.q[idx] + x)
            else:
                if self.space == asp.EE_POSE:
                    p, R = x[:3], pin.exp3(x[3:6])
                else:
                    p0, R0 = self.kin.frame_pose(st.q, self.kin.ee_frames[a.name])
                    p, R = p0 + x[:3], pin.exp3(x[3:6]) @ R0
                out += [p, pin.Quaternion(R).coeffs()]
            if a.gripper is not None:
                grips.append(v[k])
                k += 1
        return np.r_[np.concatenate(out), grips]

    # ---- the tick ----------------------------------------------------------------------------
    def step(self, now_s: float) -> Command | None:
        """Compute this tick's command.

        Returns:
            a Command, or None when there is no joint state or it is older than state_timeout_s.
        """
        st = self.state
        if st is None:
            self.status.mode = "waiting_for_state"
            return None
        if now_s - st.t_s > self.cfg.state_timeout_s:
            self.status.mode = "state_stale"
            self.q_cmd = None          # restart from the measured pose when states return
            self.saturator.reset()
            return None
        dt = self.period_s if self.last_step_s is None else now_s - self.last_step_s
        if not (0.0 < dt <= 5 * self.period_s):
            dt = self.period_s        # first tick, clock jump or reset: nominal period
        self.last_step_s = now_s
        if self.q_cmd is None:
            self.q_cmd, self.grip_cmd = st.q.copy(), st.grip.copy()
            self.v_cmd, self.gv_cmd = np.zeros(self.n), np.zeros(len(self.grippers))
            self.q_d_prev = None
            self.q_ik = st.q.copy()
            self.saturator.reset()

        stale = self.last_target_s is None or now_s - self.last_target_s > self.cfg.target_timeout_s
        t_target = now_s - self.cfg.target_delay_s
        if stale:
            if self.hold is None:
                self.hold = (st.q.copy(), np.clip(st.grip, self.grip_min, self.grip_max))
                self.buffer.clear()
            q_d, g_d = self.hold
            self.q_ik = q_d.copy()
            self.status.mode = "holding"
        else:
            q_d, g_d = self._joint_target(self.buffer.sample(t_target))
            self.status.mode = "tracking"
        q_c = np.clip(q_d, self.kin.q_min_rad, self.kin.q_max_rad)
        g_c = np.clip(g_d, self.grip_min, self.grip_max)
        if self.cfg.velocity_feedforward and not stale:
            v_ff, gv_ff = self._feedforward(t_target, q_d, q_c, g_d, g_c, dt)
        else:
            v_ff, gv_ff = self._zero_v, self._zero_gv
        q_d, g_d = q_c, g_c
        self.q_d_prev = q_d
        q_new, v_new = limited_step(self.q_cmd, self.v_cmd, q_d, v_ff, dt, self.vel_max,
                                    self.acc_max)
        g_new, gv_new = limited_step(self.grip_cmd, self.gv_cmd, g_d, gv_ff, dt,
                                     self.grip_speed, self.grip_acc)
        q_new = np.clip(q_new, self.kin.q_min_rad, self.kin.q_max_rad)
        g_new = np.clip(g_new, self.grip_min, self.grip_max)
        self.q_cmd, self.grip_cmd, self.v_cmd, self.gv_cmd = q_new, g_new, v_new, gv_new

        effort = np.zeros(0)
        if self.any_effort:
            if self.law_name == "joint_impedance":
                tau = self.law.torque(st.q, st.dq, q_new, v_new, dt)
            else:
                targets = {a: self.kin.frame_pose(q_new, self.kin.ee_frames[a])
                           for a in self.arm_names}
                tau = self.law.torque(st.q, st.dq, targets, q_new, dt)
            effort = np.zeros(len(self.names))
            effort[self.q_cmd_idx] = np.where(self.effort_mask, tau, 0.0)
        pos = np.zeros(len(self.names))
        vel = np.zeros(len(self.names))
        pos[self.q_cmd_idx], vel[self.q_cmd_idx] = q_new, v_new
        pos[self.g_cmd_idx], vel[self.g_cmd_idx] = g_new, gv_new
        self.status.ticks += 1
        return Command(self.names, pos, vel, effort, stale)

    def _feedforward(self, t_target: float, q_d, q_c, g_d, g_c, dt: float):
        """Target velocity to feed forward (``velocity_feedforward``): the buffer segment's
        slope (ee spaces: the IK solution's finite difference, the joints' rate not being linear
        in the ee target's); 0 where the target is clipped or moves faster than the limit (a
        jump: replanning, resume after a hold)."""
        rate = self.buffer.rate(t_target)
        ng = len(self.grippers)
        gv = rate[len(rate) - ng:] if ng else self._zero_gv
        v = feedforward_velocity(q_c, self.q_d_prev, dt, self.vel_max) if self.ee_space \
            else rate[:self.n]
        v = np.where((q_c == q_d) & (np.abs(v) <= self.vel_max), v, 0.0)
        gv = np.where((g_c == g_d) & (np.abs(gv) <= self.grip_speed), gv, 0.0)
        return v, gv

    def _joint_target(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Internal target -> (joint target (n,), gripper widths)."""
        ng = len(self.grippers)
        grip = x[len(x) - ng:] if ng else np.zeros(0)
        if not self.ee_space:
            return x[:self.n], grip
        q = self.q_ik.copy()
        pe = re = 0.0
        for i, a in enumerate(self.arm_names):
            p_d = x[7 * i:7 * i + 3]
            qx, qy, qz, qw = x[7 * i + 3:7 * i + 7]
            R_d = pin.Quaternion(qw, qx, qy, qz).normalized().toRotationMatrix()
            r = self.ik[a].iterate(q, p_d, R_d, self.cfg.ik_iters_per_tick, self.robot.home_rad)
            q = r.q
            pe, re = max(pe, r.pos_err_m), max(re, r.rot_err_rad)
        self.q_ik = q
        self.status.ik_pos_err_m, self.status.ik_rot_err_rad = pe, re
        return q, grip

    def diagnostics(self) -> dict[str, object]:
        """Key/values for the node's diagnostics status."""
        d: dict[str, object] = {"mode": self.status.mode, "action_space": self.space,
                                "control_law": self.law_name if self.any_effort else "position",
                                "rate_hz": self.rate_hz, "ticks": self.status.ticks}
        d.update(self.validator.counts())
        d["rejected_no_state"] = self.status.target_rejected_no_state
        d["late_targets"] = self.status.late_targets
        for k, v in self.status.state_rejected.items():
            d[f"state_rejected_{k}"] = v
        if self.ee_space:
            d["ik_pos_err_m"] = f"{self.status.ik_pos_err_m:.2e}"
            d["ik_rot_err_rad"] = f"{self.status.ik_rot_err_rad:.2e}"
        return d
