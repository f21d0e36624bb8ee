"""ALOHA scene from gym-aloha's files: name mapping, grippers, seeded resets, experts."""
import shutil

import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_sim.experts import make_expert, run_episode
from vla_sim.scenes.aloha import aloha_assets_dir, aloha_scene_spec
from vla_sim.scenes.common import ModelFileError

ALOHA_TASKS = ["transfer_cube", "insertion"]


def test_config_names_map_to_mjcf_joints(aloha_env):
    spec = aloha_env.spec
    assert aloha_env.command_names == load_robot_config("aloha", "sim").command_names
    assert spec.arm_mj_joints[spec.arm_joints.index("left_waist")] == "vx300s_left/waist"
    assert spec.arm_mj_joints[spec.arm_joints.index("right_wrist_rotate")] == "vx300s_right/wrist_rotate"
    g = {x.name: x for x in spec.grippers}
    assert g["left_gripper"].joints == ("vx300s_left/left_finger", "vx300s_left/right_finger")


def test_gripper_command_drives_both_fingers_mirrored(aloha_env):
    env = aloha_env
    env.reset("transfer_cube", 0)
    env.apply_command(["left_gripper"], [0.03])
    for _ in range(60):
        env.apply_command(["left_gripper"], [0.03])
        env.step(10)
    d = env.data
    assert d.joint("vx300s_left/left_finger").qpos[0] == pytest.approx(0.03, abs=2e-3)
    assert d.joint("vx300s_left/right_finger").qpos[0] == pytest.approx(-0.03, abs=2e-3)
    assert env.joint_positions()[env.command_names.index("left_gripper")] == pytest.approx(0.03, abs=2e-3)
    assert env.joint_positions()[env.command_names.index("right_gripper")] == pytest.approx(0.057, abs=2e-3)


@pytest.mark.parametrize("task", ALOHA_TASKS)
def test_same_seed_reproduces_identical_initial_state(aloha_env, task):
    aloha_env.reset(task, 21)
    a = aloha_env.snapshot()
    aloha_env.step(100)
    aloha_env.reset(task, 21)
    b = aloha_env.snapshot()
    for k in ("qpos", "qvel", "geom_rgba", "cam_pos", "light_diffuse"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_missing_assets_fail_with_clear_message(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        aloha_scene_spec(load_robot_config("aloha", "sim"), tmp_path)


def test_corrupt_asset_file_fails_with_clear_message(tmp_path):
    src = aloha_assets_dir()
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "vx300s_left.xml").write_text("<mujocoinclude><body name='x'>")
    with pytest.raises(ModelFileError, match="corrupt"):
        aloha_scene_spec(load_robot_config("aloha", "sim"), tmp_path)


@pytest.mark.parametrize("task", ALOHA_TASKS)
def test_aloha_expert_solves_a_seed(aloha_env, task):
    ok, instruction, n = run_episode(aloha_env, task, 100, make_expert(aloha_env))
    assert ok, f"{task}: {instruction}"
    lifted = ["cube"] if task == "transfer_cube" else ["peg", "socket"]
    assert aloha_env.task_state()["lifted_objects"] == lifted
    assert aloha_env.wrong_lifted_objects() == []


def test_render_top_and_wrist_cameras(aloha_env):
    aloha_env.reset("transfer_cube", 0)
    for cam in ("top", "left_wrist", "right_wrist"):
        img = aloha_env.render(cam, 32, 32)
        assert img.shape == (32, 32, 3) and img.std() > 1


@pytest.mark.slow
@pytest.mark.parametrize("task", ALOHA_TASKS)
def test_aloha_expert_success_rate_over_50_seeds_is_at_least_95_percent(aloha_env, task):
    expert = make_expert(aloha_env)
    ok = [run_episode(aloha_env, task, s, expert)[0] for s in range(50)]
    assert np.mean(ok) >= 0.95, f"{task}: {sum(ok)}/50, failed seeds {[s for s, o in enumerate(ok) if not o]}"


@pytest.mark.parametrize("task,seed", [("transfer_cube", 1), ("transfer_cube", 2), ("insertion", 0)])
def test_aloha_expert_plans_within_joint_velocity_limits_and_succeeds_through_the_controller(
        aloha_env, task, seed):
    """Seeds 1 and 2 used to swing forearm_roll / wrist_rotate at ~8x the ViperX limit (an IK
    path near the wrist singularity) and failed through the controller; the plan clock now
    slows down so that every frame stays within 0.8 of the limits."""
    from vla_controller.config_file import make_controller
    cfg = load_robot_config("aloha", "sim")
    acts = []
    ok, instruction, _ = run_episode(aloha_env, task, seed, controller=make_controller(cfg),
                                     on_frame=lambda k, t, s, a: acts.append(a.copy()))
    assert ok, f"{task} seed {seed}: {instruction}"
    arm = [i for i, n in enumerate(aloha_env.command_names) if "gripper" not in n]
    speed = np.abs(np.diff(np.array(acts)[:, arm], axis=0)) / 0.02
    vmax = cfg.limits.subset([aloha_env.command_names[i] for i in arm]).vel_max_rad_s
    assert np.all(speed <= 0.8 * vmax + 1e-6)
