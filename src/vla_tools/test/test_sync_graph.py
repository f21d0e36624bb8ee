"""The synchronous baseline in the real multi-process graph: the whole stack (sim, safety,
controller, action expert, planner) with the shipped Franka models and the evaluation's sync
parameters (``ros_eval_graph.SYNC_PARAMS``): the action expert runs System 2 inline, the planner
node is passive. The run is recorded and re-run offline: the same models give the same latents
and actions. Everything asserted is behaviour (who publishes, which latent each chunk used,
sim-time stamps, re-run equality), never wall-clock timing."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from vla_common.config import find_config_dir
from vla_common.testing import claim_domain_id, graph_env

MODELS = find_config_dir().parent / "models" / "franka"
N_CHUNKS = 6
INSTRUCTION = "pick up the red cube"


def _s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@pytest.mark.integration
@pytest.mark.slow
def test_sync_mode_chunks_use_latents_computed_inline_by_the_action_expert(tmp_path):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from vla_common.launcher import StackLauncher
    from vla_common.ros_qos import LATCHED, STREAM
    from vla_interfaces.msg import ActionChunk, ActionStep, Latent
    from vla_tools.ros_eval_graph import SYNC_PARAMS, write_params_file

    assert (MODELS / "planner" / "model.safetensors").is_file(), "shipped planner missing"
    assert (MODELS / "action_expert" / "model.safetensors").is_file(), "shipped expert missing"
    params = {"vla_planner": {"checkpoint_dir": str(MODELS / "planner")},
              "vla_action_expert": {"checkpoint_dir": str(MODELS / "action_expert")},
              "vla_sim": {"task": "pick_cube", "seed": 100000}}
    for node, p in SYNC_PARAMS.items():
        params.setdefault(node, {}).update(p)
    pfile = write_params_file("franka", params, tmp_path / "sync.yaml")
    dom = claim_domain_id()
    bag = tmp_path / "bag"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "vla_tools.bags.recorder_node", "--ros-args",
         "-r", "__node:=vla_recorder", "--params-file", str(pfile), "-p", f"output_dir:={bag}"],
        env=graph_env(dom), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    launcher = StackLauncher("franka", "sim", tmp_path / "logs", params_path=pfile,
                             env=graph_env(dom), echo=None)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=dom)
    node = rclpy.create_node("sync_graph_test", context=ctx,
                             parameter_overrides=[Parameter("use_sim_time", value=True)])
    lock = threading.Lock()
    events: list[tuple[str, object]] = []  # arrival order of latents and chunks
    n_actions = [0]
    seqs: set[int] = set()
    diags: dict[str, dict[str, str]] = {}

    def on(kind):
        def cb(m):
            with lock:
                events.append((kind, m))
        return cb

    def on_action(m):
        with lock:
            n_actions[0] += 1
            seqs.add(m.chunk_sequence)

    def on_diag(m):
        with lock:
            for s in m.status:
                diags[s.name] = {kv.key: kv.value for kv in s.values}

    node.create_subscription(Latent, "/vla/latent", on("latent"), STREAM)
    node.create_subscription(ActionChunk, "/vla/action_chunk", on("chunk"), STREAM)
    node.create_subscription(ActionStep, "/vla/action", on_action, STREAM)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, STREAM)
    instr_pub = node.create_publisher(String, "/vla/instruction", LATCHED)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()

    def wait(pred, timeout_s, what):
        t0 = time.monotonic()
        while not pred():
            assert launcher.poll() is None, f"stack failed waiting for {what}: {launcher.failure}"
            assert time.monotonic() - t0 < timeout_s, f"timed out waiting for {what}"
            time.sleep(0.1)

    def chunks():
        with lock:
            return [m for k, m in events if k == "chunk"]

    try:
        time.sleep(2.0)  # the recorder subscribed before the stack starts
        launcher.start()
        # both models loaded: System 1 streams its hold, the passive planner its heartbeat
        wait(lambda: n_actions[0] > 0 and "vla_planner" in diags, 420, "the stack up")
        with lock:
            assert not events, "latents or chunks before any instruction"
        instr_pub.publish(String(data=INSTRUCTION))
        wait(lambda: len(chunks()) >= N_CHUNKS, 240, f"{N_CHUNKS} chunks")
        pubs = {(i.node_name, i.node_namespace) for i in node.get_publishers_info_by_topic("/vla/latent")}
        time.sleep(1.0)  # one more heartbeat of each node after the chunks
        with lock:
            evs = list(events)
            dg = {k: dict(v) for k, v in diags.items()}
            n_act, seen_seqs = n_actions[0], set(seqs)
    finally:
        launcher.stop()
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)

    # only the action expert publishes latents; the planner node computed none
    assert pubs == {("vla_action_expert", "/")}, pubs
    assert dg["vla_planner"]["passive"] == "True" and dg["vla_planner"]["latents"] == "0"
    ae = dg["vla_action_expert"]
    assert ae["inline_planner"] == "True" and ae["strategy"] == "naive"
    assert int(ae["sync_latents"]) >= N_CHUNKS and int(ae["chunks"]) >= N_CHUNKS

    latents = [m for k, m in evs if k == "latent"]
    chs = [m for k, m in evs if k == "chunk"]
    assert all(m.instruction == INSTRUCTION and m.instruction_id == 1 and m.model_id
               and m.compute_time_s > 0 and len(m.latent) == 128 for m in latents)
    horizon_s = chs[0].horizon * chs[0].step_period_s
    for i, c in enumerate(chs):
        # the chunk's latent was published (by the expert) before the chunk, and each chunk has
        # a latent of its own: one planner step per blocking call
        before = [m for k, m in evs[:evs.index(("chunk", c))] if k == "latent"]
        stamps = [_s(m.header.stamp) for m in before]
        assert _s(c.latent_stamp) in stamps, (i, _s(c.latent_stamp), stamps[-3:])
        assert _s(c.latent_stamp) <= _s(c.header.stamp)  # image stamp <= the call's time
        # the chunk starts when the call returned (not at the request time)
        assert c.chunk_start_time == c.available_time
        assert _s(c.chunk_start_time) >= _s(c.header.stamp)
        if i:
            prev = chs[i - 1]
            assert _s(c.latent_stamp) > _s(prev.latent_stamp)
            assert c.sequence > prev.sequence
            # no call while a chunk executes: this call was made after the previous ran out
            assert _s(c.header.stamp) >= _s(prev.chunk_start_time) + horizon_s - 1e-6
    # actions stream, from the chunks
    assert n_act > 0 and {c.sequence for c in chs[:-1]} <= seen_seqs

    # the recorded sync run re-runs exactly: each chunk on the state of its request
    # (header.stamp), row 0 at the call's return (chunk_start_time), naive switching
    rec_out = recorder.stdout.read()
    assert "recorded bag" in rec_out, rec_out[-2000:]  # (drops under load are counted there)
    # the recorder's report (received / written / lost upstream per topic) explains a re-run
    # that lacks inputs
    rec_report = rec_out[rec_out.rindex("recorded bag"):]
    from vla_tools.bags.rerun import RerunConfig, Rerunner, load_recorded
    rr = Rerunner(RerunConfig(planner_checkpoint=str(MODELS / "planner"),
                              expert_checkpoint=str(MODELS / "action_expert"),
                              execution_strategy="naive"))
    rec = load_recorded(bag, rr.robot, rr.topics)
    # stopped with SIGINT after the stack, the recorder drains what it still holds: every chunk
    # this test received is in the bag, however far behind the recorder was
    assert "stop drain:" in rec_report and "CUT SHORT" not in rec_report, rec_report
    assert {c.sequence for c in chs} <= {c["sequence"] for c in rec.chunks}, rec_report
    assert len(rec.chunks) >= N_CHUNKS, rec_report
    assert all(c["request_s"] <= c["start_s"] for c in rec.chunks)
    assert any(c["request_s"] < c["start_s"] for c in rec.chunks)  # the blocking calls took time
    res = rr.run(rec)

    def why():
        return (f"skipped: {res.skipped}\nwarnings: {res.warnings}\n"
                f"recorder report:\n{rec_report}\nrecorder output (tail):\n{rec_out[-3000:]}")
    d = {x.name: x for x in res.divergences}
    assert set(d) == {"latents", "actions"}, why()
    assert not res.diverged, "\n".join([x.text() for x in res.divergences] + [why()])
    assert d["actions"].summary()["max_abs_error"] == 0.0, why()
