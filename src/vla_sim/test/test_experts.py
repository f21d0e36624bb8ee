"""Scripted experts solve the tasks (no rendering, as fast as possible)."""
import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_sim.experts import make_expert, run_episode
from vla_sim.ik import DlsIk, yaw_down_rotation

FRANKA_TASKS = ["pick_cube", "place_cube_on_plate", "push_cube"]


@pytest.mark.parametrize("task", FRANKA_TASKS)
def test_franka_expert_solves_a_few_seeds(franka_env, task):
    expert = make_expert(franka_env)
    for seed in (100, 101):
        ok, instruction, n = run_episode(franka_env, task, seed, expert)
        assert ok, f"{task} seed {seed}: {instruction}"
        assert n * 0.02 <= franka_env.task.max_duration_s
        # the expert lifts exactly the target (pushing lifts nothing): no wrong-object pick
        lifted = [franka_env.task_params["target"]] if task != "push_cube" else []
        assert franka_env.task_state()["lifted_objects"] == lifted
        assert franka_env.wrong_lifted_objects() == []


def test_expert_actions_are_finite_and_within_limits(franka_env):
    expert = make_expert(franka_env)
    acts = []
    run_episode(franka_env, "place_cube_on_plate", 7, expert, on_frame=lambda k, t, s, a: acts.append(a))
    acts = np.array(acts)
    lo, hi = franka_env._arm_range[:, 0], franka_env._arm_range[:, 1]
    assert np.all(np.isfinite(acts))
    assert np.all(acts[:, :7] >= lo - 1e-9) and np.all(acts[:, :7] <= hi + 1e-9)
    assert np.all((acts[:, 7] >= 0) & (acts[:, 7] <= 0.08))
    assert np.max(np.abs(np.diff(acts[:, :7], axis=0))) < 0.1  # smooth: < 5 rad/s at 50 Hz


def test_dls_ik_reaches_a_reachable_top_down_pose(franka_env):
    env = franka_env
    ik = DlsIk(env.model, env.spec.arm_mj_joints, "tcp", posture=env.spec.home_q)
    target = np.array([0.5, 0.1, 0.15])
    q, err = ik.solve(env.spec.home_q, target, yaw_down_rotation(0.3), iters=200)
    pos, rot = ik.fk(q)
    assert err < 1e-3
    np.testing.assert_allclose(pos, target, atol=1e-3)
    np.testing.assert_allclose(rot, yaw_down_rotation(0.3), atol=1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("task", FRANKA_TASKS)
def test_franka_expert_success_rate_over_50_seeds_is_at_least_95_percent(franka_env, task):
    expert = make_expert(franka_env)
    ok = [run_episode(franka_env, task, s, expert)[0] for s in range(50)]
    assert np.mean(ok) >= 0.95, f"{task}: {sum(ok)}/50, failed seeds {[s for s, o in enumerate(ok) if not o]}"


def test_expert_through_the_controller_solves_seeds_within_acceleration_limits(franka_env):
    """Demonstrations are recorded through the controller core (as deployed): the expert still
    succeeds, and what reaches the actuators respects the controller's velocity and
    acceleration limits (the expert's own targets do not: up to ~100 rad/s^2 on joint 1)."""
    from vla_controller.config_file import make_controller
    robot = load_robot_config("franka", "sim")
    sent = []
    orig = franka_env.command_targets
    franka_env.command_targets = lambda names, v: (sent.append(np.array(v)), orig(names, v))
    try:
        for seed in (100, 101):
            sent.clear()
            ctrl = make_controller(robot)
            ok, instruction, _ = run_episode(franka_env, "pick_cube", seed, controller=ctrl)
            assert ok, f"seed {seed}: {instruction}"
            q = np.array(sent)[:, :7]
            dt = franka_env.dt_s
            v = np.diff(q, axis=0) / dt
            a = np.diff(v, axis=0) / dt
            lim = robot.limits
            assert np.all(np.abs(v) <= np.asarray(lim.vel_max_rad_s) * ctrl.cfg.vel_limit_scale + 1e-6)
            assert np.all(np.abs(a) <= np.asarray(lim.acc_max_rad_s2) * ctrl.cfg.acc_limit_scale + 1e-3)
    finally:
        franka_env.command_targets = orig
