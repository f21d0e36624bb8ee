"""Supervisor behaviour beyond the matrix: silence before the first command, name mapping,
ALOHA without a geometry model, effort-mode hold torques, config validation."""
import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_safety import fault_matrix as fm
from vla_safety.config import SupervisorConfig, dof_limits
from vla_safety.state_machine import State
from vla_safety.supervisor import Supervisor


def aloha_sup():
    robot = load_robot_config("aloha", "sim")
    return robot, Supervisor(robot, SupervisorConfig(control_period_s=0.02, geometry_enabled=False))


def test_nothing_published_before_first_valid_command():
    robot, s = aloha_sup()
    names, q = list(robot.command_names), np.append(robot.arms[0].home_rad, 0.04)
    q = np.concatenate([np.append(a.home_rad, 0.04) for a in robot.arms])
    for k in range(10):
        assert s.tick(1.0 + 0.02 * k) is None
    assert s.state == State.INIT
    s.on_joint_states(1.2, names, q)
    assert s.state == State.READY and s.tick(1.2) is None
    s.on_command(1.22, 1.22, names, q[:-1])          # wrong size: rejected, nothing published
    assert s.state == State.HOLD and s.tick(1.22) is None  # no stream yet: the sim holds


def test_aloha_reordered_command_is_mapped_by_name_to_each_output():
    robot, s = aloha_sup()
    names = list(robot.command_names)
    q = np.concatenate([np.append(a.home_rad, 0.04) for a in robot.arms])
    s.on_joint_states(1.0, names, q)
    out = s.on_command(1.0, 1.0, names[::-1], q[::-1])
    assert s.state == State.RUNNING and out is not None
    assert out.topics == tuple(o.topic for o in robot.interfaces.command_outputs)
    for arr, o in zip(out.arrays, robot.interfaces.command_outputs):
        np.testing.assert_allclose(arr, [q[names.index(j)] for j in o.joints])


def test_gripper_limits_come_from_robot_yaml():
    robot = load_robot_config("aloha", "sim")
    lim = dof_limits(robot, SupervisorConfig())
    i = robot.command_names.index("left_gripper")
    assert (lim.pos_min[i], lim.pos_max[i]) == (0.021, 0.057) and np.isinf(lim.effort_max[i])


def test_effort_hold_torque_converges_to_gravity_compensation():
    w = fm.make_world("sim_effort")
    w.cmd_alive = False
    w.run_s(0.8)
    assert w.sup.state == State.HOLD
    s = w.sup
    g = s.geometry.gravity(w.q_meas[s._arm_idx], w.q_meas[s._grip_idx])
    tau = [e for _, p, e, _ in w.log if e is not None][-1]
    np.testing.assert_allclose(tau[s._arm_idx], g, atol=0.5)


@pytest.mark.parametrize("bad", [dict(control_period_s=0.0), dict(command_timeout_s=-1.0),
                                 dict(hold_decel_fraction=0.0), dict(workspace_min_m=(0, 0)),
                                 dict(self_stop_distance_m=0.1), dict(jump_hold_ratio=1.0),
                                 dict(table_z_m=float("nan"))])
def test_invalid_config_raises(bad):
    with pytest.raises(ValueError):
        SupervisorConfig(**bad)


def test_effort_mode_needs_gains_for_every_effort_joint():
    robot = load_robot_config("franka", "sim_effort")
    with pytest.raises(ValueError):
        Supervisor(robot, SupervisorConfig(hold_stiffness=(1.0,), geometry_enabled=False))
