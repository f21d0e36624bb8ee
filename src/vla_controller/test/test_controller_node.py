"""The real controller node in its own process on a private ROS domain: ActionStep in ->
JointState command out; bad input rejected and counted; hold when targets stop."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
NAMES = [f"panda_joint{i}" for i in range(1, 8)] + ["gripper"]
Q0 = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


@pytest.mark.integration
def test_node_commands_from_actions_rejects_bad_input_and_holds_on_stale(tmp_path):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from vla_common.ros_qos import COMMAND, SENSOR_PUB, STREAM
    from vla_common.testing import claim_domain_id, graph_env, stop_process
    from vla_interfaces.msg import ActionStep

    did = claim_domain_id()
    log_path = tmp_path / "controller.log"
    log = open(log_path, "w")
    # node-specific entries of a params file beat -p overrides: override in a second file
    override = tmp_path / "override.yaml"
    override.write_text("vla_controller:\n  ros__parameters:\n    rate_hz: 250.0\n"
                        "    target_timeout_s: 0.3\n    state_timeout_s: 0.5\n"
                        "    heartbeat_period_s: 0.2\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_controller.controller_node", "--ros-args",
         "-r", "__node:=vla_controller", "--params-file", str(REPO / "config/franka_sim.yaml"),
         "--params-file", str(override), "-p", "use_sim_time:=false", "-p", "mode:=sim_effort"],
        env=graph_env(did), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node("controller_test", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    cmds, diags = [], []
    node.create_subscription(JointState, "/vla/controller/command", cmds.append, COMMAND)
    node.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: diags.extend(s for s in m.status
                                                    if s.name == "vla_controller"), STREAM)
    js_pub = node.create_publisher(JointState, "/joint_states", SENSOR_PUB)
    act_pub = node.create_publisher(ActionStep, "/vla/action", STREAM)
    goal = Q0 + np.array([0.2, 0.1, -0.1, 0.2, 0.1, -0.1, 0.2])

    def pub_js():
        # extra finger joints and a shuffled order: the controller matches by name
        names = ["panda_finger_joint1", "gripper"] + NAMES[:7][::-1]
        m = JointState(name=names, position=[0.04, 0.08] + Q0[::-1].tolist(),
                       velocity=[0.0] * 9)
        m.header.stamp = node.get_clock().now().to_msg()
        js_pub.publish(m)

    def pub_action(values, names=NAMES):
        m = ActionStep(names=list(names), values=[float(v) for v in values])
        m.header.stamp = (node.get_clock().now() + rclpy.duration.Duration(seconds=0.02)).to_msg()
        act_pub.publish(m)

    def diag_value(key):
        for d in reversed(diags):
            for kv in d.values:
                if kv.key == key:
                    return kv.value
        return None

    def run(duration_s, action=None, until=None):
        end = time.monotonic() + duration_s
        next_js = next_act = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_js:
                pub_js()
                next_js = now + 0.01
            if action is not None and now >= next_act:
                pub_action(*action)
                next_act = now + 0.02
            ex.spin_once(timeout_sec=0.002)
            if until is not None and until():
                return True
            assert proc.poll() is None, log_path.read_text()[-3000:]
        return False

    try:
        # 1) state only: the node holds the measured pose and outputs gravity torques
        assert run(90.0, until=lambda: len(cmds) >= 20), log_path.read_text()[-3000:]
        c = cmds[-1]
        assert list(c.name) == NAMES and len(c.position) == 8 and len(c.effort) == 8
        np.testing.assert_allclose(c.position[:7], Q0, atol=1e-9)
        assert c.effort[7] == 0.0 and np.all(np.isfinite(c.effort))
        assert run(5.0, until=lambda: diag_value("rate_hz") == "250.0")   # override applied
        # 2) a stream of targets: the command moves to the goal
        target = np.r_[goal, 0.05]
        assert run(20.0, action=(target,), until=lambda: np.allclose(
            cmds[-1].position, target, atol=1e-6)), (cmds[-1].position, diags[-1:])
        assert diag_value("mode") is not None
        # 3) bad input: NaN, wrong names, wrong length; the last valid target is held
        n0 = len(cmds)
        bad = [(np.r_[goal[:6], np.nan, 0.05],), (target, NAMES[:7] + ["elbow_x"]),
               (target[:5], NAMES[:5])]
        for b in bad:
            run(0.1, action=b)
        assert run(5.0, until=lambda: diag_value("rejected_total") is not None
                   and int(diag_value("rejected_total")) >= 3), diags[-1:]
        assert int(diag_value("rejected_non_finite")) >= 1
        assert int(diag_value("rejected_unknown_name")) >= 1
        assert all(np.all(np.isfinite(m.position)) and np.all(np.isfinite(m.effort))
                   for m in cmds[n0:])
        # 4) targets stop: after target_timeout_s the node holds the measured pose again
        assert run(10.0, until=lambda: np.allclose(cmds[-1].position[:7], Q0, atol=1e-6))
        assert run(5.0, until=lambda: diag_value("mode") == "holding")
        velocities = np.array([m.velocity[:7] for m in cmds])
        assert np.all(np.abs(velocities) <= 2.61 + 1e-9)
    finally:
        rc = stop_process(proc, timeout_s=20)
        log.close()
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert rc in (0, -signal.SIGINT), log_path.read_text()[-2000:]


@pytest.mark.integration
def test_aloha_node_under_sim_time_ticks_on_clock_and_tracks(tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from vla_common.config import load_robot_config
    from vla_common.ros_qos import COMMAND, SENSOR_PUB, STREAM
    from vla_common.ros_time import s_to_stamp, stamp_to_s
    from vla_common.testing import claim_domain_id, graph_env, stop_process
    from vla_interfaces.msg import ActionStep

    cfg = load_robot_config("aloha", "sim")
    names = list(cfg.command_names)
    home = np.r_[cfg.home_rad[:6], 0.04, cfg.home_rad[6:], 0.04]
    goal = home + np.r_[np.full(6, 0.1), 0.01, np.full(6, -0.1), -0.01]
    did = claim_domain_id()
    log_path = tmp_path / "controller.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_controller.controller_node", "--ros-args",
         "-r", "__node:=vla_controller", "--params-file", str(REPO / "config/aloha_sim.yaml")],
        env=graph_env(did), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node("controller_simtime_test", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    cmds = []
    node.create_subscription(JointState, "/vla/controller/command", cmds.append, COMMAND)
    clock_pub = node.create_publisher(Clock, "/clock", 10)
    js_pub = node.create_publisher(JointState, "/joint_states", SENSOR_PUB)
    act_pub = node.create_publisher(ActionStep, "/vla/action", STREAM)
    sim_t = [1000.0]   # sim time far from wall time, so a wall-clock stamp would be obvious

    def run(duration_s, act=False, until=None):
        end = time.monotonic() + duration_s
        k = 0
        while time.monotonic() < end:
            sim_t[0] += 0.002
            k += 1
            clock_pub.publish(Clock(clock=s_to_stamp(sim_t[0])))
            m = JointState(name=names, position=home.tolist(), velocity=[0.0] * len(names))
            m.header.stamp = s_to_stamp(sim_t[0])
            js_pub.publish(m)
            if act and k % 10 == 0:
                a = ActionStep(names=names, values=goal.tolist())
                a.header.stamp = s_to_stamp(sim_t[0] + 0.02)
                act_pub.publish(a)
            ex.spin_once(timeout_sec=0.002)
            if until is not None and until():
                return True
            assert proc.poll() is None, log_path.read_text()[-3000:]
        return False

    try:
        assert run(90.0, until=lambda: len(cmds) >= 20), log_path.read_text()[-3000:]
        assert abs(stamp_to_s(cmds[-1].header.stamp) - sim_t[0]) < 1.0   # sim-time stamps
        np.testing.assert_allclose(cmds[-1].position, home, atol=1e-9)
        assert len(cmds[-1].effort) == 0                                 # all position DoFs
        assert run(30.0, act=True, until=lambda: np.allclose(cmds[-1].position, goal, atol=1e-6))
        # sim time stops (paused sim): the controller stops ticking, it does not run on wall time
        n = len(cmds)
        t_end = time.monotonic() + 0.5
        while time.monotonic() < t_end:
            ex.spin_once(timeout_sec=0.01)
        assert len(cmds) - n <= 2
    finally:
        rc = stop_process(proc, timeout_s=20)
        log.close()
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert rc in (0, -signal.SIGINT), log_path.read_text()[-2000:]
