"""Controller core: targets in, commands out; hold, bad input, limits, closed loop in MuJoCo."""

import mujoco
import numpy as np
import pinocchio as pin
import pytest

from vla_common.config import load_robot_config
from vla_controller import action_space as asp
from vla_controller.command_validation import TargetRejected
from vla_controller.controller import Command, Controller, ControllerConfig


def _make(cfg, kin, **kw):
    return Controller(cfg, kin, ControllerConfig(**kw))


def _state(c, q, grip=None, dq=None, now=0.0):
    grip = np.array([g.width_max_m / 2 for g in c.grippers]) if grip is None else grip
    names = list(c.kin.joint_names) + [g.name for g in c.grippers]
    dq = np.zeros(len(q)) if dq is None else dq
    assert c.on_joint_state(names, np.r_[q, grip], np.r_[dq, np.zeros(len(grip))], now)


@pytest.fixture
def aloha_ctrl(aloha_cfg, aloha_kin):
    c = _make(aloha_cfg, aloha_kin)
    _state(c, aloha_cfg.home_rad)
    return c


def test_no_state_gives_no_command(aloha_cfg, aloha_kin):
    c = _make(aloha_cfg, aloha_kin)
    assert c.step(0.0) is None and c.status.mode == "waiting_for_state"


def test_position_mode_output_layout(aloha_cfg, aloha_ctrl):
    cmd = aloha_ctrl.step(0.002)
    assert isinstance(cmd, Command)
    assert cmd.names == aloha_cfg.command_names
    assert cmd.position.shape == (14,) and cmd.velocity.shape == (14,) and cmd.effort.size == 0
    assert aloha_ctrl.rate_hz == 500.0 and cmd.holding


def test_no_targets_holds_measured_pose(aloha_cfg, aloha_ctrl):
    for k in range(10):
        cmd = aloha_ctrl.step(0.002 * (k + 1))
    q_idx = aloha_ctrl.q_cmd_idx
    np.testing.assert_allclose(cmd.position[q_idx], aloha_cfg.home_rad)
    assert aloha_ctrl.status.mode == "holding"


def _tick(c, t):
    """One tick with perfect position tracking: the measured pose is the last command."""
    if c.q_cmd is not None:
        _state(c, c.q_cmd, c.grip_cmd, now=t)
    elif c.state is not None:
        _state(c, c.state.q, c.state.grip, now=t)
    return c.step(t)


def _targets(c, names, t0, values_fn, n, period=0.02):
    for k in range(n):
        t = t0 + k * period
        c.on_target(names, values_fn(k), t, t)
        for j in range(int(round(period / c.period_s))):
            cmd = _tick(c, t + j * c.period_s)
    return cmd


def test_tracks_joint_targets_with_interpolation(aloha_cfg, aloha_ctrl):
    names = asp.action_names(aloha_cfg)
    goal = np.array(aloha_cfg.home_rad)
    goal[0] += 0.3
    target = np.r_[goal[:6], 0.04, goal[6:], 0.03]
    cmd = _targets(aloha_ctrl, names, 0.0, lambda k: target, 30)
    np.testing.assert_allclose(cmd.position, target, atol=1e-9)
    assert aloha_ctrl.status.mode == "tracking"


def test_joint_velocity_and_acceleration_are_limited(aloha_cfg, aloha_ctrl):
    names = asp.action_names(aloha_cfg)
    far = np.r_[aloha_cfg.home_rad[:6] + 1.5, 0.04, aloha_cfg.home_rad[6:], 0.04]
    c = aloha_ctrl
    first = c.step(0.0)
    prev, prev_v = first.position, first.velocity
    c.on_target(names, far, 0.0, 0.0)
    vmax = np.zeros(14)
    vmax[c.q_cmd_idx] = aloha_cfg.limits.vel_max_rad_s
    for k in range(1, 50):
        cmd = c.step(k * c.period_s)
        dp = np.abs(cmd.position - prev)
        assert np.all(dp[c.q_cmd_idx] <= vmax[c.q_cmd_idx] * c.period_s * 0.9 + 1e-12)
        assert np.all(np.abs(cmd.velocity[c.q_cmd_idx]) <= vmax[c.q_cmd_idx] * 0.9 + 1e-9)
        acc = np.abs(cmd.velocity - prev_v)[c.q_cmd_idx] / c.period_s
        assert np.all(acc <= aloha_cfg.limits.acc_max_rad_s2 * 0.9 + 1e-6)
        prev, prev_v = cmd.position, cmd.velocity


def test_targets_beyond_limits_are_clipped(aloha_cfg, aloha_ctrl):
    names = asp.action_names(aloha_cfg)
    v = np.r_[np.full(6, 100.0), 1.0, np.full(6, -100.0), -1.0]
    cmd = _targets(aloha_ctrl, names, 0.0, lambda k: v, 400)
    lim = aloha_cfg.limits
    q = cmd.position[aloha_ctrl.q_cmd_idx]
    assert np.all(q <= lim.pos_max_rad + 1e-12) and np.all(q >= lim.pos_min_rad - 1e-12)
    np.testing.assert_allclose(cmd.position[aloha_ctrl.g_cmd_idx], [0.057, 0.021])


@pytest.mark.parametrize("names_fn,values_fn,reason", [
    (lambda n: n, lambda v: np.r_[v[:-1], np.nan], "non_finite"),
    (lambda n: n, lambda v: np.r_[v[:-1], np.inf], "non_finite"),
    (lambda n: n, lambda v: v[:-1], "length_mismatch"),
    (lambda n: n[:-1], lambda v: v[:-1], "missing_name"),
    (lambda n: n[:-1] + ("elbow_of_someone_else",), lambda v: v, "unknown_name"),
])
def test_bad_target_rejected_last_valid_target_held(aloha_cfg, aloha_ctrl, names_fn, values_fn,
                                                     reason):
    names = asp.action_names(aloha_cfg)
    good = np.r_[aloha_cfg.home_rad[:6] + 0.1, 0.04, aloha_cfg.home_rad[6:], 0.03]
    cmd = _targets(aloha_ctrl, names, 0.0, lambda k: good, 20)
    with pytest.raises(TargetRejected) as e:
        aloha_ctrl.on_target(names_fn(names), values_fn(good), 0.4, 0.4)
    assert e.value.reason == reason
    for j in range(5):
        cmd2 = _tick(aloha_ctrl, 0.4 + j * 0.002)
    np.testing.assert_allclose(cmd2.position, cmd.position)
    d = aloha_ctrl.diagnostics()
    assert d[f"rejected_{reason}"] == 1 and d["rejected_total"] == 1


def test_stale_targets_switch_to_hold_then_resume(aloha_cfg, aloha_ctrl):
    c = aloha_ctrl
    names = asp.action_names(aloha_cfg)
    moving = lambda k: np.r_[aloha_cfg.home_rad[:6] + 0.005 * k, 0.04, aloha_cfg.home_rad[6:], 0.03]
    _targets(c, names, 0.0, moving, 10)
    assert c.status.mode == "tracking"
    # targets stop; the measured arm sits somewhere else: hold that measured pose
    measured = aloha_cfg.home_rad + 0.01
    _state(c, measured, now=0.45)           # last target arrived at 0.18 s, timeout 0.2 s
    cmd = c.step(0.45)
    assert c.status.mode == "holding" and cmd.holding
    for j in range(300):
        _state(c, measured, now=0.45 + j * c.period_s)
        cmd = c.step(0.45 + j * c.period_s)
    np.testing.assert_allclose(cmd.position[c.q_cmd_idx], measured, atol=1e-12)
    c.on_target(names, moving(20), 1.2, 1.1)
    _state(c, measured, now=1.1)
    c.step(1.1)
    assert c.status.mode == "tracking"


def test_state_stale_stops_commands(aloha_ctrl):
    assert aloha_ctrl.step(0.01) is not None
    assert aloha_ctrl.step(1.0) is None and aloha_ctrl.status.mode == "state_stale"


def test_late_target_is_applied_and_counted(aloha_cfg, aloha_ctrl):
    names = asp.action_names(aloha_cfg)
    v = np.r_[aloha_cfg.home_rad[:6] + 0.01, 0.04, aloha_cfg.home_rad[6:], 0.03]
    aloha_ctrl.on_target(names, v, 0.5 - 0.3, 0.5)       # delivered 0.3 s late
    assert aloha_ctrl.diagnostics()["late_targets"] == 1
    for k in range(200):
        cmd = _tick(aloha_ctrl, 0.5 + k * aloha_ctrl.period_s)
    np.testing.assert_allclose(cmd.position, v, atol=1e-9)


@pytest.mark.parametrize("stamp,now", [(100.0, 0.5),    # far in the future
                                       (1.0, 3.0)])     # older than max_target_age_s
def test_target_with_bad_stamp_rejected(aloha_cfg, aloha_ctrl, stamp, now):
    names = asp.action_names(aloha_cfg)
    v = np.r_[aloha_cfg.home_rad[:6], 0.04, aloha_cfg.home_rad[6:], 0.03]
    with pytest.raises(TargetRejected) as e:
        aloha_ctrl.on_target(names, v, stamp, now)
    assert e.value.reason == "bad_stamp"


@pytest.mark.parametrize("names,pos", [(["left_waist"], [0.0]),
                                       (None, "nan")])
def test_bad_joint_state_rejected(aloha_cfg, aloha_kin, names, pos):
    c = _make(aloha_cfg, aloha_kin)
    all_names = list(aloha_kin.joint_names) + ["left_gripper", "right_gripper"]
    if names is None:
        names, pos = all_names, np.full(len(all_names), np.nan)
    assert not c.on_joint_state(names, pos, [], 0.0)
    assert c.step(0.0) is None


def test_joint_delta_relative_to_measured(franka_cfg, franka_kin):
    c = _make(franka_cfg, franka_kin, action_space="joint_delta")
    _state(c, franka_cfg.home_rad)
    names = asp.action_names(franka_cfg, "joint_delta")
    d = np.r_[np.full(7, 0.01), 0.05]
    c.on_target(names, d, 0.0, 0.0)          # applied once, to the pose measured now
    for k in range(100):
        cmd = _tick(c, k * c.period_s)
    np.testing.assert_allclose(cmd.position[c.q_cmd_idx], franka_cfg.home_rad + 0.01, atol=1e-9)


@pytest.mark.parametrize("space", ["ee_pose", "ee_delta"])
def test_ee_targets_reach_pose_through_ik(franka_cfg, franka_kin, space):
    c = _make(franka_cfg, franka_kin, action_space=space, target_timeout_s=1.0)
    q0 = franka_cfg.home_rad
    _state(c, q0)
    p0, R0 = franka_kin.frame_pose(q0, "panda_hand_tcp")
    p_goal = p0 + np.array([0.05, -0.03, 0.04])
    R_goal = pin.exp3(np.array([0.0, 0.0, 0.3])) @ R0
    if space == "ee_pose":
        v = np.r_[p_goal, pin.log3(R_goal), 0.04]
    else:
        v = np.r_[p_goal - p0, pin.log3(R_goal @ R0.T), 0.04]
    names = asp.action_names(franka_cfg, space)
    c.on_target(names, v, 0.0, 0.0)
    t = 0.0
    for k in range(800):       # perfect position tracking: measured = commanded
        t += c.period_s
        if k % 10 == 0 and space == "ee_pose":
            c.on_target(names, v, t, t)
        cmd = _tick(c, t)
    q = cmd.position[c.q_cmd_idx]
    p, R = franka_kin.frame_pose(q, "panda_hand_tcp")
    assert np.linalg.norm(p - p_goal) < 1e-3
    assert np.linalg.norm(pin.log3(R.T @ R_goal)) < np.radians(0.5)


def test_effort_mode_torques_within_limits_and_only_for_effort_dofs(franka_cfg, franka_kin):
    c = _make(franka_cfg, franka_kin)          # franka_cfg is mode sim_effort
    _state(c, franka_cfg.home_rad)
    cmd = c.step(0.001)
    assert c.rate_hz == 1000.0 and cmd.effort.shape == (8,)
    assert cmd.effort[7] == 0.0                 # gripper is position-driven
    np.testing.assert_allclose(cmd.effort[:7], franka_kin.gravity(franka_cfg.home_rad), atol=1e-9)


def test_franka_sim_default_is_position_mode_at_500hz(franka_kin):
    cfg = load_robot_config("franka", "sim")
    c = _make(cfg, franka_kin)
    _state(c, cfg.home_rad)
    assert c.rate_hz == 500.0 and c.step(0.002).effort.size == 0


@pytest.mark.parametrize("kw", [dict(action_space="xyz"), dict(control_law="pid"),
                                dict(target_timeout_s=0.0), dict(rate_hz=-1.0),
                                dict(joint_stiffness=(1.0,), joint_damping=()),
                                dict(torque_limit_scale=float("nan"))])
def test_bad_controller_config_raises(kw):
    with pytest.raises(ValueError):
        ControllerConfig(**kw)


def test_wrong_gain_count_raises(franka_cfg, franka_kin):
    with pytest.raises(ValueError):
        _make(franka_cfg, franka_kin, joint_stiffness=(1.0,) * 3, joint_damping=(1.0,) * 3)


@pytest.mark.parametrize("law,period_s", [("joint_impedance", 0.001),
                                          ("cartesian_impedance", 0.001),
                                          ("joint_impedance", 0.002)])
def test_closed_loop_mujoco_tracks_streamed_targets_within_limits(franka_cfg, franka_kin,
                                                                  panda_mujoco, law, period_s):
    """Closed loop at 1 kHz physics: the Controller (effort mode, ticking every period_s; 2 ms
    is the sim-time tick) drives the MuJoCo Panda through motor actuators."""
    model = panda_mujoco(motors=True)
    d = mujoco.MjData(model)
    q0 = franka_cfg.home_rad
    d.qpos[:7] = q0
    mujoco.mj_forward(model, d)
    c = _make(franka_cfg, franka_kin, control_law=law, rate_hz=1.0 / period_s)
    names = asp.action_names(franka_cfg)
    goal = q0 + np.array([0.3, 0.2, -0.2, 0.3, 0.3, -0.2, 0.4])
    taus = []
    sub = int(round(period_s / 0.001))
    for i in range(int(2.5 / period_s)):
        t = i * period_s
        c.on_joint_state(names, np.r_[d.qpos[:7], 0.08], np.r_[d.qvel[:7], 0.0], t)
        if i % int(round(0.02 / period_s)) == 0 and t < 1.0:   # 50 Hz stream, 0.5 s ramp
            a = min(1.0, t / 0.5)
            c.on_target(names, np.r_[q0 + a * (goal - q0), 0.08], t + 0.02, t)
        cmd = c.step(t)
        d.ctrl[:7] = cmd.effort[:7]
        for _ in range(sub):
            mujoco.mj_step(model, d)
        taus.append(cmd.effort[:7].copy())
    taus = np.array(taus)
    lim = franka_cfg.limits
    assert np.all(np.abs(taus) <= lim.effort_max_nm + 1e-9)
    assert np.all(np.abs(np.diff(taus, axis=0)) / period_s <= lim.effort_rate_max_nm_s + 1e-6)
    assert np.abs(np.diff(taus[-200:], axis=0)).max() < 0.05   # settled: no limit cycle
    p, _ = franka_kin.frame_pose(d.qpos[:7].copy(), "panda_hand_tcp")
    p_goal, _ = franka_kin.frame_pose(goal, "panda_hand_tcp")
    assert np.linalg.norm(p - p_goal) < 5e-3
    assert c.status.mode == "holding"           # targets stopped at t = 1 s


def _stream_ramp_then_stop(c, names, q0, joint, speed_rad_s, move_s, total_s, period_s=0.005,
                           late_s=0.002):
    """System 1's stream as the graph delivers it: one ActionStep per ``period_s`` stamped for
    the time it is meant for and arriving ``late_s`` after it; ``joint`` ramps at
    ``speed_rad_s`` for ``move_s`` then stops. Returns the commanded positions of ``joint`` per
    controller tick and the final target."""
    def target(t):
        q = np.array(q0, dtype=float)
        q[joint] += speed_rad_s * min(t, move_s)
        return np.r_[q, 0.08]
    cmds, k_next = [], 0
    for k in range(int(round(total_s / c.period_s))):
        now = k * c.period_s
        while k_next * period_s + late_s <= now + 1e-12:
            stamp = k_next * period_s
            c.on_target(names, target(stamp), stamp, now)
            k_next += 1
        cmds.append(_tick(c, now).position[joint])
    return np.array(cmds), target(total_s)[joint]


@pytest.mark.parametrize("late_s", [0.0, 0.002, 0.004])
@pytest.mark.parametrize("speed_rad_s", [0.3, 0.9, 1.6])
def test_streamed_ramp_that_stops_is_not_overshot(franka_cfg, franka_kin, speed_rad_s, late_s):
    """A 200 Hz stream that starts and stops faster than joint 2's acceleration limit (as a
    learned policy's does) is followed behind, never past its target. Up to Dec 2 the
    controller fed forward the stream's finite-difference velocity: it spikes on a stream that
    arrives in steps, and the command overshot (graph runs: joint 2 0.06 rad past a stopped
    target, finger tips 30 mm below it, TABLE_PLANE stops)."""
    c = _make(franka_cfg, franka_kin, rate_hz=500.0)
    _state(c, franka_cfg.home_rad, grip=np.array([0.08]))
    names = asp.action_names(franka_cfg)
    cmds, goal = _stream_ramp_then_stop(c, names, franka_cfg.home_rad, 1, speed_rad_s, 0.25, 1.5,
                                        late_s=late_s)
    assert cmds.max() <= goal + 1e-4
    assert cmds[-1] == pytest.approx(goal, abs=1e-6)


def test_feasible_streamed_ramp_is_tracked_within_the_target_delay_with_feedforward(
        franka_cfg, franka_kin):
    """With velocity_feedforward a ramp within the limits is followed at the stream's own
    velocity: the lag is the target delay, not the error-driven law's v^2 / (2 a)."""
    speed = 0.5
    lags = {}
    for ff in (False, True):
        c = _make(franka_cfg, franka_kin, rate_hz=500.0, velocity_feedforward=ff)
        _state(c, franka_cfg.home_rad, grip=np.array([0.08]))
        names = asp.action_names(franka_cfg)
        cmds, _ = _stream_ramp_then_stop(c, names, franka_cfg.home_rad, 1, speed, 1.0, 0.8)
        t = np.arange(len(cmds)) * c.period_s
        late = (t > 0.4) & (t < 0.8)
        lags[ff] = float(np.max(franka_cfg.home_rad[1] + speed * t[late] - cmds[late]))
    assert lags[True] <= speed * (c.cfg.target_delay_s + 2 * c.period_s) + 1e-6
    a = franka_cfg.limits.acc_max_rad_s2[1] * c.cfg.acc_limit_scale
    assert lags[False] == pytest.approx(speed * c.cfg.target_delay_s + speed ** 2 / (2 * a), rel=0.1)
