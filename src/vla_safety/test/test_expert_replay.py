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
def test_aloha_transfer_with_ik_flip_is_held_on_the_table_wall():
    """Seed 1: the expert's IK flips forearm_roll/wrist_rotate by ~0.5 rad in one 20 ms frame;
    the controller's limited tracker takes a path whose finger tips go ~2 cm into the table.
    The table wall projects those commands onto the plane: the arm keeps running and the
    lagging output stays within the wall's output tolerance of the plane."""
    from vla_safety.supervisor import WALL_OUTPUT_TOLERANCE_M
    cfg = er.params_config("aloha")
    (r,) = _run("aloha", ("transfer_cube",), [1])
    assert r.states_seen == ["RUNNING"] and "TABLE_WALL" in r.fault_codes
    assert min(r.cmd_min_tip_z_m) < cfg.table_z_m + cfg.ee_table_margin_m - 0.005
    assert min(r.min_tip_z_m) >= cfg.table_z_m + cfg.ee_table_margin_m - WALL_OUTPUT_TOLERANCE_M
