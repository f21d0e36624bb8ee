"""vla_gripper_adapter as a real process over DDS, fed as gz_ros2_control would feed it."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ARM = [f"panda_joint{i}" for i in range(1, 8)]
FINGERS = ["panda_finger_joint1", "panda_finger_joint2"]


@pytest.mark.integration
def test_adapter_adds_the_width_and_commands_the_finger_and_rejects_bad_commands(tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from vla_common.ros_testing import ProbeNode
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from vla_common.ros_qos import COMMAND, SENSOR, SENSOR_PUB, STREAM
    from vla_common.testing import claim_domain_id, graph_env, stop_process

    did = claim_domain_id()
    log = open(tmp_path / "adapter.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_sim.gripper_adapter_node", "--ros-args",
         "-r", "__node:=vla_gripper_adapter",
         "--params-file", str(REPO / "config/franka_gazebo.yaml"), "-p", "use_sim_time:=false"],
        env=graph_env(did), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    probe = ProbeNode("adapter_test", did)
    node, ex = probe.node, probe.executor
    js_out, fingers, diags = [], [], []
    node.create_subscription(JointState, "/joint_states", js_out.append, SENSOR)
    node.create_subscription(Float64MultiArray, "/gripper_finger_controller/commands",
                             fingers.append, COMMAND)
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diags.extend(
        s for s in m.status if s.name == "vla_gripper_adapter"), STREAM)
    gz_js = node.create_publisher(JointState, "/joint_state_broadcaster/joint_states", SENSOR_PUB)
    width_cmd = node.create_publisher(Float64MultiArray, "/gripper_controller/commands", COMMAND)

    def spin_until(pred, timeout_s, publish):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            publish()
            ex.spin_once(timeout_sec=0.02)
            if pred():
                return True
            assert proc.poll() is None, (tmp_path / "adapter.log").read_text()[-2000:]
        return False

    def pub_js():
        gz_js.publish(JointState(name=ARM + FINGERS, position=[0.1] * 7 + [0.012, 0.012],
                                 velocity=[0.0] * 9, effort=[0.0] * 9))

    try:
        assert spin_until(lambda: js_out, 60, pub_js), "no /joint_states from the adapter"
        m = js_out[-1]
        assert list(m.name) == ARM + FINGERS + ["gripper"]
        assert m.position[-1] == pytest.approx(0.024)  # width = both fingers
        assert spin_until(lambda: fingers, 20, lambda: width_cmd.publish(Float64MultiArray(data=[0.06])))
        assert list(fingers[-1].data) == pytest.approx([0.03])  # one finger = width / 2
        n = len(fingers)
        assert spin_until(lambda: any(kv.key == "rejected_commands" and int(kv.value) > 0
                                      for d in diags for kv in d.values), 20,
                          lambda: width_cmd.publish(Float64MultiArray(data=[float("nan")])))
        assert all(all(v == v for v in f.data) for f in fingers[n:])  # no NaN forwarded
        # joint states without the fingers are dropped, not forwarded without a width
        k = len(js_out)
        spin_until(lambda: False, 1.0, lambda: gz_js.publish(
            JointState(name=ARM, position=[0.1] * 7)))
        assert all("gripper" in s.name for s in js_out[k:])
    finally:
        rc = stop_process(proc, timeout_s=20)
        probe.close()
        log.close()
    assert rc == 0, (tmp_path / "adapter.log").read_text()[-2000:]
