"""The real node in its own process on a private ROS domain, with a random-init checkpoint."""
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
NAMES = [f"panda_joint{i}" for i in range(1, 8)] + ["gripper"]
Q0 = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785, 0.04])


@pytest.mark.integration
@pytest.mark.parametrize("stream_process", [True, False])
def test_node_streams_actions_and_chunks_then_holds_on_stale_latent(tmp_path, stream_process):
    from vla_common.ros_testing import ProbeNode
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from vla_common.ros_qos import SENSOR_PUB, STREAM
    from vla_common.testing import claim_domain_id, graph_env, stop_process
    from vla_interfaces.msg import ActionChunk, ActionStep, Latent

    ck = tmp_path / "ck"
    r = subprocess.run([sys.executable, "-m", "vla_action_expert.init_checkpoint", "--robot",
                        "franka", "--out", str(ck), "--seed", "4"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    did = claim_domain_id()
    log = open(tmp_path / "node.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_action_expert.action_expert_node", "--ros-args",
         "-r", "__node:=vla_action_expert", "--params-file", str(REPO / "config/franka_sim.yaml"),
         "-p", "use_sim_time:=false", "-p", f"vla_action_expert:checkpoint_dir:={ck}",
         "-p", "vla_action_expert:latent_timeout_s:=0.4",
         "-p", f"vla_action_expert:stream_process:={str(stream_process).lower()}"],
        env=graph_env(did), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    probe = ProbeNode("ae_test", did)
    node, ex = probe.node, probe.executor
    steps, chunks, diags = [], [], []
    node.create_subscription(ActionStep, "/vla/action", steps.append, STREAM)
    node.create_subscription(ActionChunk, "/vla/action_chunk", chunks.append, STREAM)
    node.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: diags.extend(s for s in m.status
                                                    if s.name == "vla_action_expert"), STREAM)
    js_pub = node.create_publisher(JointState, "/joint_states", SENSOR_PUB)
    lat_pub = node.create_publisher(Latent, "/vla/latent", STREAM)

    def pub_js():
        m = JointState(name=["panda_finger_joint1"] + NAMES, position=[0.02] + Q0.tolist())
        m.header.stamp = node.get_clock().now().to_msg()
        js_pub.publish(m)

    def pub_latent(dim=128):
        m = Latent(latent=np.random.default_rng(len(chunks)).normal(size=dim).astype(np.float32).tolist())
        m.header.stamp = node.get_clock().now().to_msg()
        lat_pub.publish(m)

    def run(duration_s, latent_dim=None, until=None):
        end = time.monotonic() + duration_s
        next_js = next_lat = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_js:
                pub_js()
                next_js = now + 0.01
            if latent_dim and now >= next_lat:
                pub_latent(latent_dim)
                next_lat = now + 0.1
            ex.spin_once(timeout_sec=0.005)
            if until is not None and until():
                return True
            assert proc.poll() is None, (tmp_path / "node.log").read_text()[-3000:]
        return False

    try:
        # 1) joint states, no latent: the node holds the measured state (chunk_sequence 0)
        assert run(90.0, until=lambda: len(steps) >= 20), "no ActionStep without latent"
        hold = steps[-1]
        assert list(hold.names) == NAMES and hold.chunk_sequence == 0
        assert np.allclose(hold.values, Q0) and not chunks
        # 2) a latent of the wrong size is rejected (logged, counted), the node keeps holding
        run(1.0, latent_dim=64)
        assert not chunks and steps[-1].chunk_sequence == 0
        assert run(10.0, latent_dim=64, until=lambda: any(
            kv.key == "rejected_latent" and int(kv.value) > 0 for d in diags for kv in d.values))
        # 3) good latents: chunks and a stream of finite actions from them
        assert run(30.0, latent_dim=128, until=lambda: len(chunks) >= 5), "no ActionChunk"
        n0 = len(steps)
        run(1.0, latent_dim=128)
        c = chunks[-1]
        assert c.horizon == 16 and c.action_dim == 8 and list(c.action_names) == NAMES
        assert len(c.data) == 16 * 8 and np.all(np.isfinite(c.data))
        streamed = steps[n0:]
        assert streamed and all(np.all(np.isfinite(s.values)) for s in steps)
        assert max(s.chunk_sequence for s in streamed) > 0
        # 4) latents stop: the current chunk runs out, then the node holds still
        run(2.0)
        n_chunks = len(chunks)
        k = len(steps)
        run(1.0)
        tail = steps[k:]
        assert len(chunks) == n_chunks and len(tail) > 10
        assert len({s.chunk_sequence for s in tail}) == 1
        assert all(np.array_equal(s.values, tail[0].values) for s in tail)
        assert all(np.all(np.isfinite(s.values)) for s in steps)
    finally:
        rc = stop_process(proc, timeout_s=20)
        probe.close()
        log.close()
    text = (tmp_path / "node.log").read_text()
    assert rc == 0, text[-3000:]
    assert f"action expert: checkpoint {ck}" in text  # the given checkpoint, not a random init
    assert ("stream process pid" in text) == stream_process
    if stream_process:  # stopped with its node: no process left streaming
        assert not _alive(_stream_pid(text))
    assert any(kv.key == "stream_process" and kv.value == str(stream_process)
               for d in diags for kv in d.values)


def _stream_pid(log_text: str) -> int:
    m = re.search(r"stream process pid (\d+)", log_text)
    assert m, log_text[-3000:]
    return int(m.group(1))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has stopped running (its parent reaps it)


@pytest.mark.integration
def test_stream_process_stops_when_the_node_is_killed(tmp_path):
    """SIGKILL gives the node no chance to stop its stream process: the child must notice."""
    from vla_common.testing import claim_domain_id, graph_env
    did = claim_domain_id()
    log_path = tmp_path / "node.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vla_action_expert.action_expert_node", "--ros-args",
             "-r", "__node:=vla_action_expert", "--params-file", str(REPO / "config/franka_sim.yaml"),
             "-p", "use_sim_time:=false", "-p", "vla_action_expert:allow_random_init:=true",
             "-p", f"vla_action_expert:checkpoint_dir:={tmp_path / 'none'}"],
            env=graph_env(did), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            deadline = time.monotonic() + 120
            while "stream process pid" not in log_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            pid = _stream_pid(log_path.read_text())
            assert _alive(pid)
        finally:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the stream process outlived its node"


@pytest.mark.integration
def test_node_exits_with_clear_error_when_checkpoint_is_missing(tmp_path):
    from vla_common.testing import claim_domain_id, graph_env
    did = claim_domain_id()
    r = subprocess.run(
        [sys.executable, "-m", "vla_action_expert.action_expert_node", "--ros-args",
         "-r", "__node:=vla_action_expert", "--params-file", str(REPO / "config/franka_sim.yaml"),
         "-p", f"vla_action_expert:checkpoint_dir:={tmp_path / 'missing'}",
         "-p", "vla_action_expert:allow_random_init:=false"],
        env=graph_env(did), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 2
    assert "checkpoint not found" in r.stderr and "allow_random_init" in r.stderr


@pytest.mark.integration
@pytest.mark.parametrize("params,match", [
    ("franka_sim.yaml", "latent_dim 64 != configured latent_dim 128"),
    ("aloha_sim.yaml", "do not match the robot's command names"),  # Franka checkpoint on ALOHA
])
def test_node_exits_with_clear_error_on_checkpoint_mismatch(tmp_path, params, match):
    from vla_common.testing import claim_domain_id, graph_env
    r = subprocess.run([sys.executable, "-m", "vla_action_expert.init_checkpoint", "--robot",
                        "franka", "--out", str(tmp_path), "--latent-dim", "64"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    did = claim_domain_id()
    r = subprocess.run(
        [sys.executable, "-m", "vla_action_expert.action_expert_node", "--ros-args",
         "-r", "__node:=vla_action_expert", "--params-file", str(REPO / "config" / params),
         "-p", f"vla_action_expert:checkpoint_dir:={tmp_path}"],
        env=graph_env(did), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 2 and match in r.stderr, r.stderr[-2000:]
