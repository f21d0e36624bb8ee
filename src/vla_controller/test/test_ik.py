"""DLS IK: accuracy over random reachable targets, unreachable targets, singularities, limits."""
import numpy as np
import pinocchio as pin
import pytest

from vla_controller.ik import IKConfig, IKSolver, dls_step, limit_repulsion

N_TARGETS = 1000


def _success_rate(kin, home, arms, n, rng):
    solvers = {a: IKSolver(kin, a) for a in arms}
    ok = 0
    for i in range(n):
        s = solvers[arms[i % len(arms)]]
        q = home.copy()
        q[s.idx] = rng.uniform(s.q_min, s.q_max)
        p, R = kin.frame_pose(q, s.frame)
        r = s.solve(home, p, R)
        p2, R2 = kin.frame_pose(r.q, s.frame)        # check independently of the solver
        pos_err = np.linalg.norm(p2 - p)
        rot_err = np.degrees(np.linalg.norm(pin.log3(R2.T @ R)))
        assert np.all(r.q >= kin.q_min_rad - 1e-12) and np.all(r.q <= kin.q_max_rad + 1e-12)
        ok += pos_err < 1e-3 and rot_err < 0.5
    return ok / n


def test_franka_ik_converges_on_99_percent_of_1000_random_targets(franka_cfg, franka_kin, rng):
    assert _success_rate(franka_kin, franka_cfg.home_rad, ["arm"], N_TARGETS, rng) >= 0.99


@pytest.mark.slow
def test_aloha_ik_converges_on_99_percent_of_1000_random_targets(aloha_cfg, aloha_kin, rng):
    rate = _success_rate(aloha_kin, aloha_cfg.home_rad, ["left", "right"], N_TARGETS, rng)
    assert rate >= 0.99


def test_unreachable_target_gives_closest_reachable_pose(franka_cfg, franka_kin, rng):
    s = IKSolver(franka_kin, "arm")
    p_home, R_home = franka_kin.frame_pose(franka_cfg.home_rad, s.frame)
    p_d = np.array([1.5, 0.3, 0.5])          # reach is ~0.86 m: far outside
    r = s.solve(franka_cfg.home_rad, p_d, R_home)
    assert not r.converged and np.all(np.isfinite(r.q))
    w = s.cfg.rot_weight_m_per_rad
    err = np.hypot(r.pos_err_m, w * r.rot_err_rad)
    # no configuration in a large random sample comes meaningfully closer
    best = np.inf
    for _ in range(5000):
        q = rng.uniform(franka_kin.q_min_rad, franka_kin.q_max_rad)
        p, R = franka_kin.frame_pose(q, s.frame)
        best = min(best, np.hypot(np.linalg.norm(p_d - p),
                                  w * np.linalg.norm(pin.log3(R_home @ R.T))))
    assert err <= best + 1e-3
    assert r.pos_err_m < np.linalg.norm(p_d - p_home)


def test_near_singularity_steps_stay_bounded(franka_kin):
    cfg = IKConfig()
    q = np.array([0.0, 0.5, 0.0, -0.5, 0.0, 0.0, 0.0])   # joint 1 and 7 axes nearly aligned
    J = franka_kin.jacobian(q, "panda_hand_tcp")
    assert np.linalg.svd(J, compute_uv=False)[-1] < 0.01
    for direction in np.eye(6):
        e = 0.05 * direction
        dq = dls_step(J, e, cfg)
        assert np.all(np.isfinite(dq))
        lam = cfg.damping_max * np.sqrt(min(1.0, np.linalg.norm(e) / cfg.damping_err_ref))
        assert np.linalg.norm(dq) <= np.linalg.norm(e) / (2 * lam) + 1e-9
        assert np.max(np.abs(dq)) <= cfg.step_max_rad + 1e-12


def test_exactly_singular_jacobian_gives_finite_step():
    J = np.zeros((6, 7))
    J[0, 0] = 1.0
    dq = dls_step(J, np.ones(6), IKConfig())
    assert np.all(np.isfinite(dq)) and np.max(np.abs(dq)) <= IKConfig().step_max_rad


def test_ik_through_singular_region_tracks_without_blowup(franka_cfg, franka_kin):
    # drive the target along a line that passes the stretched (singular) pose
    s = IKSolver(franka_kin, "arm")
    q = np.array([0.0, 0.3, 0.0, -0.3, 0.0, 0.6, 0.785])
    p0, R0 = franka_kin.frame_pose(q, s.frame)
    for k in range(60):
        p_d = p0 + np.array([0.01 * k, 0.0, 0.0])     # beyond reach at the end
        r = s.iterate(q, p_d, R0, 3, franka_cfg.home_rad)
        assert np.max(np.abs(r.q - q)) <= 3 * s.cfg.step_max_rad + 1e-9
        q = r.q
    assert np.all(np.isfinite(q))


def test_null_space_posture_does_not_disturb_the_task(franka_kin):
    J = franka_kin.jacobian(np.array([0.1, -0.5, 0.2, -2.0, 0.1, 1.5, 0.5]), "panda_hand_tcp")
    dq = dls_step(J, np.zeros(6), IKConfig(), null_dq=np.full(7, 0.1))
    assert np.abs(dq).max() > 1e-3
    np.testing.assert_allclose(J @ dq, 0.0, atol=1e-9)


def test_limit_repulsion_pushes_inward_only_near_limits():
    lo, hi = np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    r = limit_repulsion(np.array([-0.99, 0.0, 0.99]), lo, hi, 0.05)
    assert r[0] > 0 and r[1] == 0 and r[2] < 0


def test_solution_respects_joint_limits_when_target_needs_beyond(franka_cfg, franka_kin):
    s = IKSolver(franka_kin, "arm")
    q = franka_cfg.home_rad.copy()
    q[3] = -0.0698                       # joint 4 at its upper limit
    p, R = franka_kin.frame_pose(q, s.frame)
    r = s.solve(franka_cfg.home_rad, p + np.array([0.05, 0, 0]), R)
    assert np.all(r.q <= franka_kin.q_max_rad) and np.all(r.q >= franka_kin.q_min_rad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_target_raises(franka_cfg, franka_kin, bad):
    s = IKSolver(franka_kin, "arm")
    with pytest.raises(ValueError):
        s.solve(franka_cfg.home_rad, np.array([0.3, 0.0, bad]), np.eye(3))
    with pytest.raises(ValueError):
        dls_step(np.eye(6), np.array([bad, 0, 0, 0, 0, 0]), IKConfig())


@pytest.mark.parametrize("kw", [dict(tol_pos_m=0.0), dict(damping=1.0, damping_max=0.1),
                                dict(max_iters=0), dict(step_max_rad=np.nan),
                                dict(limit_margin=0.6)])
def test_bad_ik_config_raises(kw):
    with pytest.raises(ValueError):
        IKConfig(**kw)
