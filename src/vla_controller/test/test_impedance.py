"""Impedance laws: saturation edge cases and closed loop in MuJoCo (motor actuators, 1 kHz)."""
import mujoco
import numpy as np
import pytest

from vla_controller.ik import IKSolver
from vla_controller.impedance import (CartesianImpedance, CartesianImpedanceGains, JointImpedance,
                                      JointImpedanceGains, TorqueSaturator, damping_scale)

DT = 0.001


def _sat(cfg, scale=0.95):
    return TorqueSaturator(cfg.limits.effort_max_nm * scale, cfg.limits.effort_rate_max_nm_s * scale)


def test_saturator_clamps_magnitude_and_rate():
    s = TorqueSaturator(np.array([10.0, 10.0]), np.array([1000.0, 1000.0]))
    assert np.allclose(s(np.array([50.0, -50.0]), DT), [10.0, -10.0])   # first: magnitude only
    assert np.allclose(s(np.array([-10.0, 10.0]), DT), [9.0, -9.0])     # then 1 Nm per ms


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_saturator_replaces_non_finite_with_previous_output(bad):
    s = TorqueSaturator(np.array([10.0]), np.array([1000.0]))
    s(np.array([3.0]), DT)
    assert s(np.array([bad]), DT)[0] == pytest.approx(3.0)


@pytest.mark.parametrize("dt", [0.0, -1.0, np.nan])
def test_saturator_non_positive_dt_freezes_torque(dt):
    s = TorqueSaturator(np.array([10.0]), np.array([1000.0]))
    s(np.array([3.0]), DT)
    assert s(np.array([8.0]), dt)[0] == pytest.approx(3.0)


def test_saturator_rejects_bad_limits():
    with pytest.raises(ValueError):
        TorqueSaturator(np.array([0.0]), np.array([1.0]))


def test_joint_impedance_at_target_outputs_gravity(franka_cfg, franka_kin):
    q = franka_cfg.home_rad
    law = JointImpedance(franka_kin, JointImpedanceGains(np.full(7, 100.0), np.full(7, 10.0)),
                         _sat(franka_cfg, 10.0))
    np.testing.assert_allclose(law.torque(q, np.zeros(7), q, np.zeros(7), DT),
                               franka_kin.gravity(q), atol=1e-9)


def _simulate(model, kin, q0, law_fn, steps):
    d = mujoco.MjData(model)
    d.qpos[:7] = q0
    mujoco.mj_forward(model, d)
    taus, xs = [], []
    for _ in range(steps):
        q, dq = d.qpos[:7].copy(), d.qvel[:7].copy()
        tau = law_fn(q, dq)
        d.ctrl[:7] = tau
        mujoco.mj_step(model, d)
        taus.append(tau)
        xs.append(kin.frame_pose(d.qpos[:7].copy(), "panda_hand_tcp")[0])
    return np.array(taus), np.array(xs), d


def _assert_within_torque_limits(cfg, taus):
    assert np.all(np.abs(taus) <= cfg.limits.effort_max_nm + 1e-9)
    rates = np.abs(np.diff(taus, axis=0)) / DT
    assert np.all(rates <= cfg.limits.effort_rate_max_nm_s + 1e-6)


def test_cartesian_step_settles_with_bounded_overshoot_in_mujoco(franka_cfg, franka_kin,
                                                                 panda_mujoco):
    model = panda_mujoco(motors=True)
    assert model.opt.timestep == DT
    q0 = franka_cfg.home_rad
    p0, R0 = franka_kin.frame_pose(q0, "panda_hand_tcp")
    step = np.array([0.05, 0.0, -0.05])
    p_d = p0 + step
    q_null = IKSolver(franka_kin, "arm").solve(q0, p_d, R0).q    # posture consistent with target
    law = CartesianImpedance(franka_kin, CartesianImpedanceGains(150.0, 10.0, 20.0),
                             _sat(franka_cfg))
    taus, xs, _ = _simulate(model, franka_kin, q0,
                            lambda q, dq: law.torque(q, dq, {"arm": (p_d, R0)}, q_null, DT), 3000)
    progress = (xs - p0) @ step / (step @ step)
    assert np.linalg.norm(xs[-1] - p_d) < 1e-3                       # settled within 1 mm
    assert progress.max() - 1.0 < 0.2                                # overshoot < 20 % of step
    assert np.all(np.linalg.norm(xs[-500:] - p_d, axis=1) < 3e-3)    # and stays there
    _assert_within_torque_limits(franka_cfg, taus)


def test_torque_rate_limit_holds_under_huge_target_jump(franka_cfg, franka_kin, panda_mujoco):
    model = panda_mujoco(motors=True)
    q0 = franka_cfg.home_rad
    law = JointImpedance(franka_kin, JointImpedanceGains(np.full(7, 5000.0), np.full(7, 10.0)),
                         _sat(franka_cfg))
    q_far = np.clip(q0 + 2.0, franka_kin.q_min_rad, franka_kin.q_max_rad)
    taus, _, _ = _simulate(model, franka_kin, q0,
                           lambda q, dq: law.torque(q, dq, q_far, np.zeros(7), DT), 200)
    assert np.abs(taus).max() > 11.0          # it did saturate
    _assert_within_torque_limits(franka_cfg, taus)


@pytest.mark.parametrize("dt,cap", [(0.0, 1.0), (np.nan, 1.0), (0.001, 0.0), (-1.0, 1.0)])
def test_damping_scale_is_one_when_disabled_or_dt_invalid(franka_kin, dt, cap):
    np.testing.assert_array_equal(damping_scale(franka_kin, np.zeros(7), np.full(7, 1e6), dt,
                                                cap), np.ones(7))


def test_damping_scale_caps_light_joints_only(franka_cfg, franka_kin):
    q = franka_cfg.home_rad
    s = damping_scale(franka_kin, q, np.array([50.0, 50, 50, 20, 20, 20, 10]), 0.002, 1.0)
    m = np.diag(franka_kin.mass_matrix(q))
    assert s[0] == 1.0 and s[6] < 1.0
    assert np.all(np.array([50.0, 50, 50, 20, 20, 20, 10]) * s * 0.002 / m <= 1.0 + 1e-12)


def test_cartesian_impedance_at_rest_on_target_outputs_gravity_for_both_aloha_arms(aloha_cfg,
                                                                                  aloha_kin):
    q = aloha_cfg.home_rad
    law = CartesianImpedance(aloha_kin, CartesianImpedanceGains(), _sat(aloha_cfg, 10.0))
    targets = {a: aloha_kin.frame_pose(q, aloha_kin.ee_frames[a]) for a in ("left", "right")}
    tau = law.torque(q, np.zeros(12), targets, q, DT)
    np.testing.assert_allclose(tau, aloha_kin.gravity(q), atol=1e-9)


def test_cartesian_impedance_pulls_towards_target(franka_cfg, franka_kin):
    q = franka_cfg.home_rad
    p, R = franka_kin.frame_pose(q, "panda_hand_tcp")
    law = CartesianImpedance(franka_kin, CartesianImpedanceGains(), _sat(franka_cfg, 10.0),
                             gravity=False, coriolis=False)
    tau = law.torque(q, np.zeros(7), {"arm": (p + np.array([0.0, 0.0, 0.1]), R)}, q, DT)
    # the implied ee force (J^T)^+ tau points up
    J = franka_kin.jacobian(q, "panda_hand_tcp")
    f = np.linalg.pinv(J.T) @ tau
    assert f[2] > 10.0 and abs(f[0]) < 1.0 and abs(f[1]) < 1.0
