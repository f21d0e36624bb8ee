"""Record a real rclpy publisher process at nominal stack rates, read back, then play back."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from vla_common.testing import claim_domain_id, graph_env
from vla_tools.bags.reader import BagReader

PY = sys.executable


def _stop(proc, sig=signal.SIGINT, timeout=30):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Recorder node + synthetic stack publisher (3 s); returns (bag dir, published, stdout)."""
    dom = claim_domain_id()
    env = graph_env(dom)
    d = tmp_path_factory.mktemp("rec")
    bag, pub_json = d / "bag", d / "pub.json"
    rec = subprocess.Popen([PY, "-m", "vla_tools.bags.recorder_node", "--ros-args",
                            "-p", f"output_dir:={bag}", "-p", "use_sim_time:=false",
                            "-p", "split_max_duration_s:=1.5"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        r = subprocess.run([PY, "-m", "vla_tools.bags.ros_synthetic_stack", "--duration", "3",
                            "--out", str(pub_json), "--linger", "1.5"],
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    finally:
        _stop(rec)
    out = rec.stdout.read()
    assert rec.returncode == 0, out
    return bag, json.loads(pub_json.read_text()), out, dom


@pytest.mark.integration
def test_recorder_writes_every_published_message_with_equal_contents(recorded):
    bag, pub, out, _ = recorded
    assert "dropped 0" in out, out
    from rclpy.serialization import deserialize_message

    from vla_tools.bags.ros_synthetic_stack import message_digest
    from vla_tools.bags.ros_types import message_class
    msgs, err = BagReader(bag).read_all(sort=False)
    assert err is None
    got: dict[str, list[str]] = {}
    for m in msgs:
        msg = deserialize_message(m.data, message_class(m.msgtype))
        got.setdefault(m.topic, []).append(message_digest(msg))
    for topic, digests in pub["digests"].items():
        if topic == "/diagnostics":  # the recorder's own heartbeat shares this topic
            assert set(digests) <= set(got[topic])
            continue
        assert got.get(topic, []) == digests, f"{topic}: {len(got.get(topic, []))} vs {len(digests)}"
    assert len(BagReader(bag).files) >= 2  # split by duration


@pytest.mark.integration
def test_player_publishes_bag_with_bag_time_on_clock_and_remaps(recorded):
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState
    from vla_interfaces.msg import ActionStep

    bag, _, _, dom = recorded
    want = {"/joint_states": JointState, "/vla/action": ActionStep,
            "/camera/scene/image_raw": Image}
    bag_msgs, _ = BagReader(bag).read_all(topics=want, sort=False)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=dom)
    node = rclpy.create_node("play_check", context=ctx)
    got: dict[str, list[bytes]] = {t: [] for t in want}
    clock_ns: list[int] = []
    lock = threading.Lock()
    qos = QoSProfile(depth=5000, reliability=ReliabilityPolicy.RELIABLE)
    for topic, cls in want.items():
        name = "/replay/joint_states" if topic == "/joint_states" else topic

        def cb(data, topic=topic):
            with lock:
                got[topic].append(data)
        node.create_subscription(cls, name, cb, qos, raw=True)
    node.create_subscription(Clock, "/clock", lambda m: clock_ns.append(
        m.clock.sec * 1_000_000_000 + m.clock.nanosec), qos)
    from rclpy.executors import SingleThreadedExecutor
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    player = subprocess.Popen(
        [PY, "-m", "vla_tools.bags.player_node", "--ros-args", "-p", f"bag:={bag}",
         "-p", "rate:=2.0", "-p", "start_delay_s:=1.5", "-p", "wait_for_subscribers:=1",
         "-p", "topics:=['/joint_states', '/vla/action', '/camera/scene/image_raw']",
         "-p", "remap:=['/joint_states:=/replay/joint_states']"],
        env=graph_env(dom), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = player.communicate(timeout=120)
        assert player.returncode == 0, out
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # let the last reliable samples arrive
            with lock:
                if sum(len(v) for v in got.values()) >= len(bag_msgs):
                    break
            time.sleep(0.1)
    finally:
        _stop(player)
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    in_time_order = sorted(bag_msgs, key=lambda m: m.log_time_ns)  # stable: ties keep file order
    for topic in want:
        assert got[topic] == [m.data for m in in_time_order if m.topic == topic], topic
    log_times = {m.log_time_ns for m in bag_msgs}
    assert log_times <= set(clock_ns)  # every message went out at its own bag time on /clock
    assert clock_ns == sorted(clock_ns)
    assert min(clock_ns) == min(log_times) and max(clock_ns) == max(log_times)


@pytest.mark.integration
def test_recorded_stack_bag_converts_to_dataset(recorded, tmp_path):
    from vla_common.config import load_robot_config, load_topics
    from vla_common.dataset import DatasetReader
    from vla_tools.bags.convert import ConvertConfig, bag_to_episode
    bag, pub, _, _ = recorded
    out = bag_to_episode(bag, tmp_path / "ds", load_robot_config("franka"), load_topics(),
                         ConvertConfig(success=False))
    assert out["action_source"] == "commands" and out["frames"] > 100
    ep = DatasetReader(tmp_path / "ds").episode(0)
    assert ep.instruction == "pick up the cube" and len(ep) == out["frames"]


@pytest.mark.integration
def test_bag_info_cli_reports_damage_with_exit_code(recorded, tmp_path):
    import shutil
    bag = recorded[0]
    shutil.copytree(bag, tmp_path / "cut")
    f = sorted((tmp_path / "cut").glob("*.mcap"))[0]
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    r = subprocess.run([PY, "-c", "import sys; from vla_tools.bags.cli import info_main; "
                        f"sys.exit(info_main([{str(tmp_path / 'cut')!r}]))"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "truncated or corrupt" in r.stdout and "/joint_states" in r.stdout
