"""SimEnv (Franka): seeded resets, commands, stale hold, bad input, model-file errors."""
import math

import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_sim.command_gate import CommandError
from vla_sim.factory import make_env
from vla_sim.scenes.common import ModelFileError
from vla_sim.scenes.franka import franka_scene_spec


@pytest.mark.parametrize("task", ["pick_cube", "place_cube_on_plate", "push_cube"])
def test_same_seed_reproduces_identical_initial_state(franka_env, task):
    env = franka_env
    i1 = env.reset(task, 11)
    a = env.snapshot()
    env.command_targets(env.command_names, env.joint_positions() + 0.05)
    env.step(200)
    env.reset("pick_cube", 3)
    i2 = env.reset(task, 11)
    b = env.snapshot()
    assert i1 == i2
    for k in ("qpos", "qvel", "geom_rgba", "cam_pos", "light_diffuse"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_different_seeds_randomize_objects_colors_camera_and_light(franka_env):
    env = franka_env
    env.reset("pick_cube", 1)
    a = env.snapshot()
    env.reset("pick_cube", 2)
    b = env.snapshot()
    for k in ("qpos", "geom_rgba", "cam_pos", "light_diffuse"):
        assert not np.array_equal(a[k], b[k]), k


def test_position_command_moves_arm_and_gripper(franka_env):
    env = franka_env
    env.reset("pick_cube", 0)
    tgt = env.joint_positions()
    tgt[0] += 0.3
    tgt[-1] = 0.02
    for _ in range(100):  # 1 s, commands every 10 ms
        env.command_targets(env.command_names, tgt)
        env.step(5)
    q = env.joint_positions()
    assert q[0] == pytest.approx(tgt[0], abs=0.01)
    assert q[-1] == pytest.approx(0.02, abs=0.003)


def test_stale_commands_hold_position_damped(franka_env):
    env = franka_env
    env.reset("pick_cube", 0)
    tgt = env.joint_positions()
    tgt[1] += 0.4
    env.command_targets(env.command_names, tgt)
    env.step(60)  # 0.12 s: command goes stale while the arm is still moving
    assert all(g.is_stale(env.time_s) for g in env.gates)
    env.step(250)
    q_a = env.joint_positions()
    env.step(250)
    q_b = env.joint_positions()
    np.testing.assert_allclose(q_a, q_b, atol=2e-3)  # holds where it was, does not reach tgt
    assert abs(q_b[1] - tgt[1]) > 0.05
    assert np.max(np.abs(env.joint_velocities()[:7])) < 0.01


@pytest.mark.parametrize("values", [[0.0] * 6, [0.0] * 8, [math.nan] * 7, [0, 0, 0, math.inf, 0, 0, 0]])
def test_bad_arm_command_is_rejected_and_arm_holds(franka_env, values):
    env = franka_env
    env.reset("pick_cube", 0)
    q0 = env.joint_positions()
    with pytest.raises(CommandError):
        env.submit(0, values)
    env.step(250)
    np.testing.assert_allclose(env.joint_positions()[:7], q0[:7], atol=5e-3)


def test_command_for_unknown_joints_is_rejected(franka_env):
    with pytest.raises(CommandError, match="unknown joints"):
        franka_env.apply_command(["panda_joint1", "elbow_of_nobody"], [0.0, 0.0])
    with pytest.raises(CommandError, match="exactly"):
        franka_env.apply_command(["panda_joint1"], [0.0])
    with pytest.raises(CommandError, match="position"):
        franka_env.apply_command(["gripper"], [0.04], interface="effort")


def test_apply_command_by_name_reorders_to_controller_order(franka_env):
    env = franka_env
    env.reset("pick_cube", 0)
    q = env.joint_positions()[:7]
    names = [f"panda_joint{i}" for i in range(7, 0, -1)]
    env.apply_command(names, q[::-1])
    np.testing.assert_array_equal(env.gates[0].values, q)


def test_effort_mode_zero_torque_keeps_gravity_compensated_arm_still():
    env = make_env(load_robot_config("franka", "sim_effort"))
    env.reset("pick_cube", 0)
    q0 = env.joint_positions()
    for _ in range(50):
        env.apply_command([f"panda_joint{i}" for i in range(1, 8)], [0.0] * 7, interface="effort")
        env.step(10)
    np.testing.assert_allclose(env.joint_positions()[:7], q0[:7], atol=0.02)
    env.apply_command([f"panda_joint{i}" for i in range(1, 8)], [5.0, 0, 0, 0, 0, 0, 0], interface="effort")
    env.step(20)
    assert env.joint_velocities()[0] > 0.01


def test_unknown_task_is_rejected(franka_env):
    with pytest.raises(KeyError, match="unknown task"):
        franka_env.reset("juggle", 0)


def test_task_state_is_json_ready(franka_env):
    import json
    franka_env.reset("push_cube", 4)
    st = json.loads(json.dumps(franka_env.task_state()))
    assert st["task"] == "push_cube" and st["seed"] == 4 and st["success"] is False
    assert st["lifted_objects"] == []
    assert st["params"]["color"] in st["instruction"]


def test_missing_urdf_fails_with_clear_message(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        franka_scene_spec(load_robot_config("franka", "sim"), tmp_path / "nope.urdf")


def test_corrupt_urdf_fails_with_clear_message(tmp_path):
    bad = tmp_path / "panda.urdf"
    bad.write_text("<robot name='panda'><link name='a'></robot")
    with pytest.raises(ModelFileError, match="could not compile"):
        franka_scene_spec(load_robot_config("franka", "sim"), bad)


def test_render_gives_rgb_image_of_requested_size(franka_env):
    img = franka_env.render("scene", 64, 48)
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8 and img.std() > 5
    with pytest.raises(KeyError):
        franka_env.render("nope", 64, 48)
