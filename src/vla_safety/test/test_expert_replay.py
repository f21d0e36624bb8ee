"""No false stops on correct motion: the scripted experts' command streams (vla_sim, in-process,
no images) through the real Supervisor core with each robot's params-file thresholds and
geometry ON. Clamp counts are reported (printed), not asserted."""
import pytest

from vla_safety import expert_replay as er


def _check(robot, tasks, seeds, over=None):
    res = er.run(robot, len(seeds), seeds[0], tasks=tasks, cfg_over=over)
    from vla_common.config import load_robot_config
    print(er.summary(res, [a.name for a in load_robot_config(robot, "sim").arms]))
    assert all(r.expert_success for r in res)
    bad = [(r.task, r.seed, r.states_seen, r.reasons) for r in res if not r.stayed_running]
    assert not bad, bad


@pytest.mark.slow
def test_franka_expert_streams_never_leave_running():
    _check("franka", ("pick_cube", "place_cube_on_plate", "push_cube"), [0, 1])


@pytest.mark.slow
def test_aloha_insertion_streams_never_leave_running_with_geometry_on():
    _check("aloha", ("insertion",), [0, 1], dict(geometry_enabled=True))


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="gate's jerk-limited tracking dips the left giver's finger "
                   "tips >1 cm below the commanded path: TABLE_PLANE (docs/SAFETY.md)")
def test_aloha_transfer_streams_never_leave_running_with_geometry_on():
    _check("aloha", ("transfer_cube",), [1, 2], dict(geometry_enabled=True))
