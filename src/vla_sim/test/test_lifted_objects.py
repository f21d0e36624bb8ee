"""Lifted-object tracking (wrong-object picks): latched per episode from each reset, reported in
``task_state()["lifted_objects"]``; objects are moved by hand through the MuJoCo data."""
import json

import mujoco
import pytest

from vla_sim.tasks import CUBES, LIFT_THRESHOLD_M, wrong_lifted_objects

FRANKA_TASKS = ["pick_cube", "place_cube_on_plate", "push_cube"]


def _move_up(env, body: str, dz: float) -> None:
    """Shift a free body ``dz`` up (velocity zeroed) and refresh the kinematics (no physics
    step, so no cadence check runs)."""
    m = env.model
    jnt = m.body_jntadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, body)]
    a, v = m.jnt_qposadr[jnt], m.jnt_dofadr[jnt]
    env.data.qpos[a + 2] += dz
    env.data.qvel[v:v + 6] = 0.0
    mujoco.mj_forward(m, env.data)


def _other_cube(env) -> str:
    return next(c for c in CUBES if c != env.task_params["target"])


@pytest.mark.parametrize("task", FRANKA_TASKS)
def test_nothing_is_lifted_right_after_reset(franka_env, task):
    franka_env.reset(task, 5)
    st = json.loads(json.dumps(franka_env.task_state()))
    assert st["lifted_objects"] == []
    franka_env.step(100)  # resting objects stay unlifted
    assert franka_env.task_state()["lifted_objects"] == []


def test_non_target_cube_raised_by_hand_is_lifted_and_a_wrong_pick(franka_env):
    env = franka_env
    env.reset("pick_cube", 7)
    other = _other_cube(env)
    _move_up(env, other, 0.1)
    assert env.task_state()["lifted_objects"] == [other]
    assert env.wrong_lifted_objects() == [other]


def test_raise_below_the_threshold_is_not_a_lift(franka_env):
    env = franka_env
    env.reset("pick_cube", 7)
    _move_up(env, _other_cube(env), LIFT_THRESHOLD_M / 2)
    assert env.task_state()["lifted_objects"] == []


def test_target_cube_lift_is_listed_but_not_a_wrong_pick(franka_env):
    env = franka_env
    env.reset("place_cube_on_plate", 2)
    target = env.task_params["target"]
    _move_up(env, target, 0.1)
    assert env.task_state()["lifted_objects"] == [target]
    assert env.wrong_lifted_objects() == []


def test_lift_stays_latched_after_the_cube_drops_back_to_the_table(franka_env):
    env = franka_env
    env.reset("push_cube", 3)
    other = _other_cube(env)
    z0 = env.data.xpos[env._ctx.body_id(other), 2]
    _move_up(env, other, 0.1)
    assert env.task_state()["lifted_objects"] == [other]
    env.step(400)  # 0.8 s: it falls back onto the table
    assert abs(env.data.xpos[env._ctx.body_id(other), 2] - z0) < 0.01
    assert env.task_state()["lifted_objects"] == [other]


def test_stepping_latches_lifts_at_the_task_check_cadence(franka_env):
    env = franka_env
    env.reset("pick_cube", 9)
    other = _other_cube(env)
    _move_up(env, other, 0.3)
    assert env.lifted_objects() == []  # not checked yet
    env.step(env.task_check_period_steps)  # one check happens in this span (still well above)
    _move_up(env, other, -0.3)  # back down before anyone asks for the task state
    assert env.lifted_objects() == [other]


def test_update_lifted_reports_only_a_change_of_the_lifted_set(franka_env):
    env = franka_env
    env.reset("pick_cube", 9)
    assert env.update_lifted() is False
    other = _other_cube(env)
    _move_up(env, other, 0.1)
    assert env.update_lifted() is True and env.lifted_objects() == [other]
    assert env.update_lifted() is False


def test_reset_clears_the_lifted_objects(franka_env):
    env = franka_env
    env.reset("pick_cube", 7)
    _move_up(env, _other_cube(env), 0.1)
    assert env.task_state()["lifted_objects"]
    env.reset("pick_cube", 7)
    assert env.lifted_objects() == [] and env.task_state()["lifted_objects"] == []


def test_wrong_lifted_objects_counts_every_lifted_object_but_the_target():
    assert wrong_lifted_objects(["cube_2", "cube_0", "cube_1"], {"target": "cube_1"}) == ["cube_0", "cube_2"]
    assert wrong_lifted_objects(["cube_1"], {"target": "cube_1"}) == []
    assert wrong_lifted_objects([], {"target": "cube_1"}) == []
    # no single target (ALOHA tasks): every tracked object belongs to the task
    assert wrong_lifted_objects(["peg", "socket"], {"peg_xy": [0.1, 0.5]}) == []


@pytest.mark.parametrize("task,objects", [("transfer_cube", ["cube"]), ("insertion", ["peg", "socket"])])
def test_aloha_task_objects_raised_by_hand_are_lifted_but_never_wrong_picks(aloha_env, task, objects):
    env = aloha_env
    env.reset(task, 4)
    assert env.task_state()["lifted_objects"] == []
    for o in objects:
        _move_up(env, o, 0.1)
    assert env.task_state()["lifted_objects"] == objects
    assert env.wrong_lifted_objects() == []
