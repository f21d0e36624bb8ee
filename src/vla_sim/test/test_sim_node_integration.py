"""The real sim_node process over DDS: topics and types, commands, bad input, reset service."""
import json
import math
import signal
import subprocess
import sys
import time

import pytest

from vla_common.config import find_config_dir
from vla_common.testing import claim_domain_id, graph_env, stop_process

pytestmark = pytest.mark.integration


def _start(domain, tmp_path, robot="franka", **params):
    # Overrides go in a second params file for node vla_sim: `-p` sets /** values, which the
    # node-specific entries of the main params file would shadow.
    import yaml
    over = tmp_path / "override.yaml"
    over.write_text(yaml.safe_dump({"vla_sim": {"ros__parameters": params}}))
    cmd = [sys.executable, "-m", "vla_sim.sim_node", "--ros-args", "-r", "__node:=vla_sim",
           "--params-file", str(find_config_dir() / f"{robot}_sim.yaml"), "--params-file", str(over)]
    return subprocess.Popen(cmd, env=graph_env(domain), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _stop(proc):
    if proc.poll() is None:
        stop_process(proc, timeout_s=10)
    return proc.stdout.read()


@pytest.fixture
def ros(request):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    domain = claim_domain_id()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("sim_node_test", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    yield domain, node, ex
    ex.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=ctx)


def _spin_until(ex, pred, timeout_s=30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        ex.spin_once(timeout_sec=0.02)
        if pred():
            return True
    return False


def test_bridge_topics_types_commands_bad_input_and_reset(ros, tmp_path):
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import Float64MultiArray, String
    from vla_common.ros_qos import COMMAND, LATCHED, SENSOR
    from vla_interfaces.srv import ResetTask

    domain, node, ex = ros
    proc = _start(domain, tmp_path, camera_width_px=[32], camera_height_px=[24])
    try:
        got = {}

        def keep(k):
            def cb(m):
                got.setdefault(k, []).append(m)
            return cb
        node.create_subscription(JointState, "/joint_states", keep("js"), SENSOR)
        node.create_subscription(Clock, "/clock", keep("clock"), 10)
        node.create_subscription(Image, "/camera/scene/image_raw", keep("scene"), SENSOR)
        node.create_subscription(Image, "/camera/wrist/image_raw", keep("wrist"), SENSOR)
        node.create_subscription(CameraInfo, "/camera/wrist/camera_info", keep("info"), SENSOR)
        node.create_subscription(String, "/vla_sim/task", keep("task"), LATCHED)
        assert _spin_until(ex, lambda: all(k in got for k in ("js", "clock", "scene", "wrist", "info", "task")), 60), \
            f"missing topics: got {sorted(got)}; node output:\n{_stop(proc)}"

        types = dict(node.get_topic_names_and_types())
        assert types["/joint_states"] == ["sensor_msgs/msg/JointState"]
        assert types["/clock"] == ["rosgraph_msgs/msg/Clock"]
        assert types["/camera/scene/image_raw"] == ["sensor_msgs/msg/Image"]
        assert types["/camera/scene/camera_info"] == ["sensor_msgs/msg/CameraInfo"]
        assert types["/vla_sim/task"] == ["std_msgs/msg/String"]
        assert types["/arm_position_controller/commands"] == ["std_msgs/msg/Float64MultiArray"]
        assert types["/gripper_controller/commands"] == ["std_msgs/msg/Float64MultiArray"]
        js = got["js"][-1]
        assert list(js.name) == [f"panda_joint{i}" for i in range(1, 8)] + ["gripper"]
        img = got["wrist"][-1]
        assert (img.width, img.height, img.encoding, len(img.data)) == (32, 24, "rgb8", 32 * 24 * 3)
        task = json.loads(got["task"][-1].data)
        assert task["task"] == "pick_cube" and task["instruction"] and task["success"] is False
        assert task["lifted_objects"] == []  # the arm holds: nothing lifted
        # joint_states are stamped with sim time, one per 2 ms physics step
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in got["js"][-20:]]
        assert all(b > a for a, b in zip(stamps, stamps[1:]))
        assert min(b - a for a, b in zip(stamps, stamps[1:])) == pytest.approx(0.002, abs=1e-6)

        # A valid arm command moves joint 1.
        arm = node.create_publisher(Float64MultiArray, "/arm_position_controller/commands", COMMAND)
        q0 = list(got["js"][-1].position[:7])
        target = list(q0)
        target[0] += 0.3
        assert _spin_until(ex, lambda: arm.publish(Float64MultiArray(data=target)) or
                           abs(got["js"][-1].position[0] - target[0]) < 0.01, 60)

        # NaN and wrong-length commands are rejected; the arm holds where it is.
        q_hold = got["js"][-1].position[0]
        bad = [float("nan")] * 7
        _spin_until(ex, lambda: arm.publish(Float64MultiArray(data=bad)) or False, 1.0)
        _spin_until(ex, lambda: arm.publish(Float64MultiArray(data=[0.0] * 3)) or False, 1.0)
        assert all(math.isfinite(p) for p in got["js"][-1].position)
        assert abs(got["js"][-1].position[0] - q_hold) < 0.01

        # Reset service: new task, latched task state follows.
        cli = node.create_client(ResetTask, "/vla_sim/reset")
        assert cli.wait_for_service(timeout_sec=30)
        fut = cli.call_async(ResetTask.Request(task="push_cube", seed=3))
        assert _spin_until(ex, fut.done, 30)
        assert fut.result().success and fut.result().instruction
        assert _spin_until(ex, lambda: json.loads(got["task"][-1].data)["task"] == "push_cube", 10)
        fut = cli.call_async(ResetTask.Request(task="juggle", seed=0))
        assert _spin_until(ex, fut.done, 30)
        assert not fut.result().success and "unknown task" in fut.result().message
    finally:
        out = _stop(proc)
    assert "command rejected" in out and "non-finite" in out
    assert proc.returncode == 0, out


def test_missing_model_file_fails_at_start_with_clear_message(ros, tmp_path):
    domain, _, _ = ros
    proc = _start(domain, tmp_path, model_path="/nonexistent/panda.urdf", render_enabled=False)
    try:
        proc.wait(timeout=60)
    finally:
        out = _stop(proc)
    assert proc.returncode == 2, out
    assert "not found" in out and "/nonexistent/panda.urdf" in out


def test_aloha_bridge_fast_mode_publishes_every_camera_and_mapped_joint_names(ros, tmp_path):
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState
    from vla_common.ros_qos import SENSOR

    domain, node, ex = ros
    proc = _start(domain, tmp_path, robot="aloha", real_time_factor=0.0,
                  camera_width_px=[24], camera_height_px=[16], camera_rate_hz=[20.0, 10.0, 10.0])
    try:
        got = {}
        keep = lambda k: (lambda m: got.setdefault(k, []).append(m))  # noqa: E731
        node.create_subscription(JointState, "/joint_states", keep("js"), SENSOR)
        node.create_subscription(Clock, "/clock", keep("clock"), 10)
        for cam in ("top", "left_wrist", "right_wrist"):
            node.create_subscription(Image, f"/camera/{cam}/image_raw", keep(cam), SENSOR)
        assert _spin_until(ex, lambda: all(len(got.get(k, [])) >= 3 for k in ("js", "top", "left_wrist", "right_wrist")), 90), \
            f"got {sorted((k, len(v)) for k, v in got.items())}; node output:\n{_stop(proc)}"
        names = list(got["js"][-1].name)
        assert names[:7] == ["left_waist", "left_shoulder", "left_elbow", "left_forearm_roll",
                             "left_wrist_angle", "left_wrist_rotate", "left_gripper"]
        assert names[7:] == [n.replace("left", "right") for n in names[:7]]
        grip = got["js"][-1].position[6]
        assert 0.021 - 1e-3 <= grip <= 0.057 + 1e-3
        # Image stamps follow each camera's own sim-time rate (lock step in fast mode).
        st = lambda m: m.header.stamp.sec + m.header.stamp.nanosec * 1e-9  # noqa: E731
        # (a best-effort subscriber may miss a frame: gaps are whole multiples of the period)
        def periods(msgs, period_s):
            t = [st(m) for m in msgs]
            return [(b - a) / period_s for a, b in zip(t, t[1:])]
        for k in periods(got["top"], 0.05) + periods(got["left_wrist"], 0.1):
            assert k >= 1 - 1e-6 and abs(k - round(k)) < 1e-4
        types = dict(node.get_topic_names_and_types())
        for topic in ("/left_arm_controller/commands", "/left_gripper_controller/commands",
                      "/right_arm_controller/commands", "/right_gripper_controller/commands"):
            assert types[topic] == ["std_msgs/msg/Float64MultiArray"]
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
