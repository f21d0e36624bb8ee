"""The real planner node in its own process on a private DDS domain, under sim time that this
test drives by publishing /clock itself, with camera images and instructions. Rates are counted
per simulated second (never wall time)."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from vla_common.config import find_config_dir
from vla_common.testing import claim_domain_id, graph_env

pytestmark = pytest.mark.integration

CAMS = ("scene", "wrist")
STEP_MS = 5          # sim time per /clock message
IMAGE_EVERY = 20     # images at 10 Hz sim


def _start(tmp_path, domain, **params):
    """The node with franka_sim.yaml, its vla_planner section updated with ``params``.

    (Node-specific entries of a params file win over command-line ``-p`` wildcards, so the
    overrides go into a copy of the file.)
    """
    raw = yaml.safe_load((find_config_dir() / "franka_sim.yaml").read_text())
    section = raw["vla_planner"]["ros__parameters"]
    section.update(checkpoint_dir=str(tmp_path / "no_checkpoint"), torch_threads=1)
    section.update(params)
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "vla_planner.planner_node", "--ros-args", "-r", "__node:=vla_planner",
           "--params-file", str(pfile)]
    log = open(tmp_path / "planner.log", "w")
    return subprocess.Popen(cmd, env=graph_env(domain), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(40)  # interpreter teardown (torch, transformers) is slow on a loaded machine
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Driver:
    """Publishes /clock, images and instructions; collects latents and diagnostics."""

    def __init__(self, domain):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image
        from std_msgs.msg import String
        from vla_interfaces.msg import Latent
        from vla_interfaces.srv import SetInstruction

        from vla_common.ros_qos import LATCHED, SENSOR_PUB, STREAM
        self.rclpy, self.Clock, self.Image, self.String = rclpy, Clock, Image, String
        self.SetInstruction = SetInstruction
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("planner_test_driver", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        n = self.node
        self.clock_pub = n.create_publisher(Clock, "/clock", 10)
        self.img_pubs = {c: n.create_publisher(Image, f"/camera/{c}/image_raw", SENSOR_PUB) for c in CAMS}
        self.instr_pub = n.create_publisher(String, "/vla/instruction", LATCHED)
        self.latents, self.diags, self.image_stamps = [], [], set()
        n.create_subscription(Latent, "/vla/latent", self.latents.append, STREAM)
        n.create_subscription(DiagnosticArray, "/diagnostics",
                              lambda m: self.diags.extend(s for s in m.status if s.name == "vla_planner"), STREAM)
        self.cli = n.create_client(SetInstruction, "/vla/set_instruction")
        self.step = 0
        self.rng = np.random.default_rng(0)
        self.pace = None  # (rate_hz, sim_s at start, latents at start): hold the clock for a lagging node

    def pace_latents(self, rate_hz):
        """From now on, hold sim time while the node is more than one latent behind ``rate_hz``.

        Like a lockstep simulator: on a loaded machine sim time slows down instead of the node
        missing cycles, so the rate per sim second tests the node's scheduling, not the CPU.
        """
        self.pace = (rate_hz, self.sim_s, len(self.latents))

    def _wait_for_pace(self):
        rate_hz, t_start, n_start = self.pace
        expected = int((self.sim_s - t_start) * rate_hz) - 1
        t_end = time.monotonic() + 5.0
        while len(self.latents) - n_start < expected:
            if time.monotonic() > t_end:  # the node stopped publishing: stop pacing, the rate check fails
                self.pace = None
                return
            self.spin(0.01)

    @property
    def sim_s(self):
        return self.step * STEP_MS * 1e-3

    def _stamp(self):
        from vla_common.ros_time import s_to_stamp
        return s_to_stamp(self.sim_s)

    def image(self, cam, encoding="rgb8"):
        im = self.rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        msg = self.Image(height=128, width=128, encoding=encoding, step=128 * 3, data=im.tobytes())
        msg.header.stamp = self._stamp()
        self.img_pubs[cam].publish(msg)

    def run(self, sim_duration_s, images=True, bad_camera=None):
        """Advance sim time at <= 0.5x real time, publishing images every 0.1 sim s."""
        end = self.step + int(round(sim_duration_s * 1000 / STEP_MS))
        while self.step < end:
            if self.pace is not None:
                self._wait_for_pace()
            self.step += 1
            self.clock_pub.publish(self.Clock(clock=self._stamp()))
            if images and self.step % IMAGE_EVERY == 0:
                for c in CAMS:
                    self.image(c, "bayer_rggb8" if c == bad_camera else "rgb8")
                self.image_stamps.add(round(self.sim_s, 6))
            self.spin(0.015)  # sim time at most ~1/3 of real time: the node keeps up under load

    def spin(self, wall_s):
        t_end = time.monotonic() + wall_s
        while True:
            self.ex.spin_once(timeout_sec=max(0.0, min(0.005, t_end - time.monotonic())))
            if time.monotonic() >= t_end:
                return

    def wait_for_service(self, proc, log, timeout_s=90.0):
        t_end = time.monotonic() + timeout_s
        while not self.cli.service_is_ready():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < t_end, "planner did not come up"
            self.spin(0.1)

    def call(self, text):
        fut = self.cli.call_async(self.SetInstruction.Request(instruction=text))
        t_end = time.monotonic() + 20
        while not fut.done() and time.monotonic() < t_end:
            self.spin(0.05)
        assert fut.done(), "set_instruction service did not answer"
        return fut.result()

    def close(self):
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.ctx)


def _stamp_s(msg):
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def test_planner_node_publishes_at_configured_rate_under_sim_time(tmp_path):
    domain = claim_domain_id()
    proc = _start(tmp_path, domain, allow_random_init=True, rate_hz=8.0)
    d = Driver(domain)
    try:
        t_end = time.monotonic() + 90
        while not d.cli.service_is_ready() or d.node.count_subscribers("/clock") < 1:
            assert proc.poll() is None, (tmp_path / "planner.log").read_text()
            assert time.monotonic() < t_end, "planner did not come up"
            d.spin(0.1)
        # images but no instruction: clean skips, nothing published
        d.run(1.0)
        assert d.latents == [] and proc.poll() is None

        r = d.call("pick up the red cube")
        assert r.success and r.instruction_id == 1
        d.run(0.5)
        d.pace_latents(8.0)
        t0 = d.sim_s
        d.run(3.0)
        t1 = d.sim_s
        d.pace = None
        d.run(0.3)
        window = [m for m in d.latents if t0 <= _stamp_s(m) < t1]
        rate_per_sim_s = len(window) / (t1 - t0)
        assert 6.5 <= rate_per_sim_s <= 9.0, f"{len(window)} latents in {t1 - t0:.1f} sim s"
        for m in d.latents:
            assert len(m.latent) == 128 and np.all(np.isfinite(m.latent))
            assert m.instruction == "pick up the red cube" and m.instruction_id == 1
            assert round(_stamp_s(m), 6) in d.image_stamps  # stamped with an image stamp
            assert m.compute_time_s > 0 and m.model_id.startswith("vla_embedded_planner")
        stamps = [_stamp_s(m) for m in d.latents]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

        # bad images on one camera: logged skips, the node lives; the topic instruction applies
        n_before = len(d.latents)
        d.instr_pub.publish(d.String(data="open the drawer"))
        d.run(1.0, bad_camera="wrist")
        assert proc.poll() is None
        late = [m for m in d.latents[n_before:] if _stamp_s(m) > t1 + 0.5]
        assert late == []  # nothing newer than the last good wrist frame is published
        d.run(1.5)
        newest = d.latents[-1]
        assert newest.instruction == "open the drawer" and newest.instruction_id == 2

        # an empty instruction is refused; the current one stays
        r = d.call("   ")
        assert not r.success and r.instruction_id == 2
        d.run(0.5)
        assert d.latents[-1].instruction_id == 2 and proc.poll() is None

        keys = {kv.key: kv.value for kv in d.diags[-1].values}
        assert float(keys["rate_hz"]) > 0 and "compute_p50_ms" in keys
        assert int(keys["bad_images"]) > 0
    finally:
        d.close()
        _stop(proc)
    assert proc.returncode == 0, (tmp_path / "planner.log").read_text()[-3000:]


def test_planner_node_runs_a_transformers_checkpoint(tmp_path):
    from vla_planner import tiny_hf
    from vla_planner.hf_backbone import HFBackboneConfig, write_hf_checkpoint
    tiny_hf.write_idefics3(tmp_path / "ck" / "backbone")
    write_hf_checkpoint(tmp_path / "ck", HFBackboneConfig(latent_dim=32, cameras=CAMS))
    domain = claim_domain_id()
    proc = _start(tmp_path, domain, checkpoint_dir=str(tmp_path / "ck"), latent_dim=32,
                  rate_hz=4.0, allow_random_init=False)
    d = Driver(domain)
    try:
        t_end = time.monotonic() + 90
        d.instr_pub.publish(d.String(data="stack the blocks"))  # latched: reaches the late joiner
        while not d.latents:
            assert proc.poll() is None, (tmp_path / "planner.log").read_text()
            assert time.monotonic() < t_end, "no latent from the transformers backbone"
            d.run(0.1)
        m = d.latents[-1]
        assert len(m.latent) == 32 and m.model_id.startswith("hf_vlm:idefics3")
        assert m.instruction == "stack the blocks" and m.instruction_id == 1
    finally:
        d.close()
        _stop(proc)
    assert proc.returncode == 0, (tmp_path / "planner.log").read_text()[-3000:]


def test_missing_checkpoint_without_random_init_exits_with_clear_error(tmp_path):
    domain = claim_domain_id()
    proc = _start(tmp_path, domain, allow_random_init=False)
    try:
        rc = proc.wait(120)
    finally:
        _stop(proc)
    out = (tmp_path / "planner.log").read_text()
    assert rc == 2 and "checkpoint directory not found" in out and "Traceback" not in out


def test_passive_planner_keeps_the_instruction_service_and_publishes_no_latents(tmp_path):
    """Synchronous baseline: the action expert computes the latents; this node must not."""
    domain = claim_domain_id()
    proc = _start(tmp_path, domain, allow_random_init=True, passive=True)
    d = Driver(domain)
    try:
        d.wait_for_service(proc, tmp_path / "planner.log")
        r = d.call("pick up the red cube")
        assert r.success and r.instruction_id == 1
        d.instr_pub.publish(d.String(data="open the drawer"))
        d.run(1.5)  # images and /clock as for an active planner
        assert d.latents == [] and proc.poll() is None
        assert d.node.get_publishers_info_by_topic("/vla/latent") == []
        assert d.node.get_subscriptions_info_by_topic("/camera/scene/image_raw") == []
        assert d.call("   ").success is False
        keys = {kv.key: kv.value for kv in d.diags[-1].values}
        assert keys["passive"] == "True" and keys["latents"] == "0"
        assert keys["instruction_id"] == "2" and d.diags[-1].level == b"\x00"
    finally:
        d.close()
        _stop(proc)
    assert proc.returncode == 0, (tmp_path / "planner.log").read_text()[-3000:]


def test_planner_node_maps_a_paraphrase_and_refuses_an_ambiguous_instruction(tmp_path):
    """A checkpoint that names its trained instructions: the node's service answers a paraphrase
    with the trained instruction it stands for, and refuses text that is as close to two
    different meanings, keeping the previous instruction."""
    import torch

    from vla_planner.embedded import EmbeddedPlanner, EmbeddedPlannerConfig
    from vla_planner.instruction_match import InstructionSet, write_instruction_set
    torch.manual_seed(0)
    ck = EmbeddedPlanner(EmbeddedPlannerConfig(cameras=CAMS)).save_pretrained(tmp_path / "ck")
    write_instruction_set(ck, InstructionSet(
        ("pick up the red cube", "lift the red cube", "pick up the blue cube", "lift the blue cube"),
        groups=(0, 0, 1, 1)))
    domain = claim_domain_id()
    proc = _start(tmp_path, domain, checkpoint_dir=str(ck), allow_random_init=False)
    d = Driver(domain)
    try:
        d.wait_for_service(proc, tmp_path / "planner.log")
        r = d.call("could you raise the red cube")
        assert r.success and r.instruction_id == 1
        assert "understood as 'lift the red cube'" in r.message or \
            "understood as 'pick up the red cube'" in r.message
        r = d.call("pick up the cube")
        assert not r.success and "ambiguous" in r.message and r.instruction_id == 1
    finally:
        d.close()
        _stop(proc)
    assert proc.returncode == 0, (tmp_path / "planner.log").read_text()[-3000:]
    assert "ambiguous" in (tmp_path / "planner.log").read_text()
