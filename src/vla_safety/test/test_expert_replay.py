"""No false stops on correct motion: the scripted experts' command streams (vla_sim, in-process,
no images; through vla_controller's limited tracker as in the stack) replayed through the real
Supervisor core with each robot's params-file thresholds, geometry on. Clamp counts and the
output's deviation from the command are printed (reported in docs/SAFETY.md), not asserted."""
import pytest

from vla_common.config import load_robot_config
from vla_safety import expert_replay as er


def _run(robot, tasks, seeds):
    res = er.run(robot, len(seeds), seeds[0], tasks=tasks)
    print(er.summary(res, [a.name for a in load_robot_config(robot, "sim").arms]))
    assert all(r.expert_success for r in res)
    return res


def _assert_running(res):
    bad = [(r.task, r.seed, r.states_seen, r.reasons) for r in res if not r.stayed_running]
    assert not bad, bad


@pytest.mark.slow
def test_franka_expert_streams_never_leave_running():
    _assert_running(_run("franka", ("pick_cube", "place_cube_on_plate", "push_cube"), [0, 1]))


@pytest.mark.slow
def test_aloha_expert_streams_never_leave_running():
    _assert_running(_run("aloha", ("insertion",), [0, 1]) +
                    _run("aloha", ("transfer_cube",), [3, 4]))  # seed 3/4: left arm gives


@pytest.mark.slow
def test_aloha_transfer_former_ik_flip_seed_stays_above_the_table():
    """Seed 1: the expert's IK used to swing forearm_roll/wrist_rotate at up to 8x the ViperX
    velocity limit, and the controller's limited tracker then took a path ~2 cm into the table
    (held by the table wall). The expert now slows its plan to 0.8 of the limits: the command
    stream never reaches the wall and the gate never leaves RUNNING."""
    cfg = er.params_config("aloha")
    (r,) = _run("aloha", ("transfer_cube",), [1])
    assert r.states_seen == ["RUNNING"] and "TABLE_WALL" not in r.fault_codes
    assert min(r.cmd_min_tip_z_m) >= cfg.table_z_m + cfg.ee_table_margin_m
