"""Per-arm workspace boxes, the finger-tip table plane, and the limiter's catch-up (no overshoot)."""
import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_safety import fault_matrix as fm
from vla_safety.config import SupervisorConfig, dof_limits, workspace_boxes
from vla_safety.limits import limit_step


@pytest.mark.parametrize("lo,hi,n,ok", [((0, 0, 0), (1, 1, 1), 2, True),
                                        ((0, 0, 0, 1, 1, 1), (1, 1, 1, 2, 2, 2), 2, True),
                                        ((0, 0, 0, 1, 1, 1), (1, 1, 1, 2, 2, 2), 1, False),
                                        ((0, 0, 0, 1, 1, 1), (1, 1, 1, 2, 2, 2), 3, False)])
def test_workspace_boxes_one_for_all_or_one_per_arm(lo, hi, n, ok):
    cfg = SupervisorConfig(workspace_min_m=lo, workspace_max_m=hi)
    if not ok:
        with pytest.raises(ValueError):
            workspace_boxes(cfg, n)
        return
    blo, bhi = workspace_boxes(cfg, n)
    assert blo.shape == (n, 3) and np.all(blo < bhi)


@pytest.mark.parametrize("bad", [dict(workspace_min_m=(0, 0, 0, 0), workspace_max_m=(1, 1, 1, 1)),
                                 dict(workspace_min_m=(), workspace_max_m=()),
                                 dict(workspace_min_m=(0, 0, 0, 2, 0, 0), workspace_max_m=(1, 1, 1, 1, 1, 1))])
def test_bad_workspace_lists_are_rejected(bad):
    with pytest.raises(ValueError):
        SupervisorConfig(**bad)


def test_right_arm_leaving_its_box_holds_and_names_the_arm():
    w = fm.make_world(robot="aloha")
    fm._ramp_to(w, {"right_waist": -1.4}, 1.0)
    w.run_s(1.2)
    assert w.sup.state.name == "HOLD" and w.reasons["GEOFENCE"].startswith("right ")


def test_table_plane_uses_the_finger_tips_not_the_tcp():
    w = fm.make_world()
    s = w.sup
    q = s.stream.q.copy()
    table, _, ee, low = s.geofence_excess(q)
    assert low[0] < ee[0][2]  # the finger tips are below the TCP when the hand points down
    # a plane between the tips and the TCP: the tips are under it, the TCP is not
    s.cfg = fm.matrix_config(table_z_m=float((low[0] + ee[0][2]) / 2), ee_table_margin_m=0.0)
    table, _, _, _ = s.geofence_excess(q)
    assert table[0] > 0.0


def _track(lim, v_ff: bool):
    n, dt = len(lim.names), 0.002
    mid = (lim.pos_min + lim.pos_max) / 2
    q, v, a = mid.copy(), np.zeros(n), np.zeros(n)
    speed = 0.2 * lim.vel_max
    gap = 0.1 * (lim.pos_max - lim.pos_min) / 10   # the stream starts this far behind
    over = np.zeros(n)
    for k in range(200):
        cmd = mid + gap + speed * k * dt
        q, v, a, _ = limit_step(cmd, q, v, a, lim, dt, v_ff=speed if v_ff else None)
        over = np.maximum(over, q - cmd)
    return over, np.abs(q - cmd)


def test_catch_up_settles_onto_a_moving_command_with_less_overshoot_than_one_step_aim():
    lim = dof_limits(load_robot_config("aloha", "sim"), SupervisorConfig())
    over_ff, err_ff = _track(lim, True)
    over_aim, _ = _track(lim, False)
    assert np.all(err_ff < 1e-4)                     # settled onto the command
    assert np.all(over_ff <= 0.25 * over_aim + 1e-9)  # and overshot far less on the way


@pytest.mark.parametrize("robot", ["franka", "aloha"])
def test_tip_height_gradient_matches_finite_differences(robot):
    w = fm.make_world(robot=robot)
    s, geo = w.sup, w.sup.geometry
    rng = np.random.default_rng(3)
    for _ in range(5):
        q = s.stream.q + rng.uniform(-0.3, 0.3, s.n) * ~s.is_gripper
        qa, qg = q[s._arm_idx], q[s._grip_idx]
        low, grad = geo.tip_height_gradient(qa, qg)
        assert np.allclose(low, geo.fence_points(qa, qg)[1])
        eps = 1e-6
        for j in range(len(qa)):
            d = qa.copy()
            d[j] += eps
            fd = (geo.fence_points(d, qg)[1] - low) / eps
            assert np.allclose(fd, grad[:, j], atol=1e-5)


def test_command_slightly_below_the_table_is_held_on_the_wall_deeper_one_stops():
    w = fm.make_world()
    s = w.sup
    q = s.stream.q.copy()
    _, _, _, low = s.geofence_excess(q)
    plane = float(low[0]) + 0.01     # the tips are 10 mm below this plane (+ margin 0)
    s.cfg = fm.matrix_config(table_z_m=plane, ee_table_margin_m=0.0, table_wall_depth_m=0.03)
    held = s._table_wall(w.now, q)
    _, _, _, low_held = s.geofence_excess(held)
    assert low_held[0] >= plane - 1e-9 and "TABLE_WALL" in s.faults
    assert np.array_equal(held[s._grip_idx], q[s._grip_idx])  # only arm joints move
    s.cfg = fm.matrix_config(table_z_m=float(low[0]) + 0.05, ee_table_margin_m=0.0,
                             table_wall_depth_m=0.03)
    # 50 mm deep, as deep as the last output: coming back up after a stop, passed unchanged
    assert np.array_equal(s._table_wall(w.now, q), q) and s.state.name == "RUNNING"
    deeper = q.copy()
    deeper[1] += 0.05  # shoulder forward: the tips go further down
    assert s._table_wall(w.now, deeper) is None  # deeper than the wall holds: refused, STOP
    assert s.state.name == "STOPPED" and "TABLE_PLANE" in s.faults
