"""The launcher with real child processes (plain Python programs standing in for nodes)."""
import os
import shutil
import sys
import textwrap
import time

import pytest

from vla_common.config import ConfigError, find_config_dir
from vla_common.launcher import StackLauncher, parse_overrides

SLEEPER = "import signal, sys, time\nprint('up', flush=True)\nwhile True: time.sleep(0.05)\n"
CRASHER = "import sys, time\ntime.sleep(0.3)\nprint('boom', flush=True)\nsys.exit(3)\n"


def _stack(tmp_path, nodes):
    cdir = tmp_path / "config"
    shutil.copytree(find_config_dir(), cdir)
    mods = tmp_path / "mods"
    mods.mkdir()
    entries = []
    for name, body, required, respawn in nodes:
        (mods / f"{name}.py").write_text(body)
        entries.append(textwrap.dedent(f"""\
          - name: {name}
            package: x
            executable: {name}
            module: {name}
            modes: [sim]
            required: {str(required).lower()}
            respawn: {str(respawn).lower()}
            respawn_delay_s: 0.1
            max_respawns: 2
        """))
    (cdir / "stack.yaml").write_text("nodes:\n" + "".join("  " + l + "\n" for e in entries for l in e.splitlines()))
    env = {"PYTHONPATH": str(mods) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return cdir, env


def _wait(pred, timeout_s=20.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_stop_leaves_no_child_process(tmp_path):
    cdir, env = _stack(tmp_path, [("a", SLEEPER, True, False), ("b", SLEEPER, True, False)])
    la = StackLauncher("franka", "sim", tmp_path / "logs", cdir, env=env, echo=None)
    la.start()
    pids = la.pids()
    assert len(pids) == 2
    assert _wait(lambda: "up" in (tmp_path / "logs" / "a.log").read_text())
    la.stop(timeout_s=5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_required_node_death_stops_stack_with_nonzero_exit(tmp_path):
    cdir, env = _stack(tmp_path, [("a", SLEEPER, True, False), ("dies", CRASHER, True, False)])
    la = StackLauncher("franka", "sim", tmp_path / "logs", cdir, env=env, echo=None)
    rc = la.run(duration_s=30)
    assert rc == 1
    assert "required node dies exited with code 3" in la.failure
    assert not any(la.alive().values())
    assert "boom" in (tmp_path / "logs" / "dies.log").read_text()


def test_optional_node_is_respawned_up_to_its_limit(tmp_path):
    cdir, env = _stack(tmp_path, [("a", SLEEPER, True, False), ("flaky", CRASHER, False, True)])
    la = StackLauncher("franka", "sim", tmp_path / "logs", cdir, env=env, echo=None)
    la.start()
    try:
        flaky = next(c for c in la.children if c.spec.name == "flaky")
        assert _wait(lambda: (la.poll(), len(flaky.exit_codes) >= 3)[1], 30)
        assert flaky.respawns == 2 and la.failure is None
        assert la.alive()["a"]
    finally:
        la.stop(timeout_s=5)


def test_unknown_only_node_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown node"):
        StackLauncher("franka", "sim", tmp_path, only=["nope"], echo=None)


def test_missing_params_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no parameter file"):
        StackLauncher("franka", "moon", tmp_path, echo=None)


@pytest.mark.parametrize("bad", ["a:=1", "node:=1", ":p:=1", "node:p"])
def test_malformed_override_is_rejected(bad):
    with pytest.raises(ValueError):
        parse_overrides([bad])


def test_override_goes_into_a_later_node_section_params_file(tmp_path):
    import yaml
    la = StackLauncher("franka", "sim", tmp_path, echo=None,
                       extra_params=parse_overrides(["vla_planner:rate_hz:=4.0",
                                                     "vla_planner:allow_random_init:=true"]))
    spec = next(c.spec for c in la.children if c.spec.name == "vla_planner")
    cmd = la.command(spec)
    assert cmd[:3] == [sys.executable, "-m", "vla_planner.planner_node"]
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    assert files[0].endswith("franka_sim.yaml") and len(files) == 2
    params = yaml.safe_load(open(files[1]))["vla_planner"]["ros__parameters"]
    assert params == {"rate_hz": 4.0, "allow_random_init": True}


@pytest.mark.integration
def test_override_beats_the_node_section_of_the_params_file(tmp_path):
    """Real rclpy: a node-section value in the params file is replaced by the override."""
    import subprocess
    from vla_common.testing import claim_domain_id, graph_env
    cdir = tmp_path / "config"
    shutil.copytree(find_config_dir(), cdir)
    pf = cdir / "franka_sim.yaml"
    pf.write_text(pf.read_text() + "\nprobe:\n  ros__parameters:\n    gain: 1.0\n")
    la = StackLauncher("franka", "sim", tmp_path / "logs", cdir, echo=None,
                       extra_params=parse_overrides(["probe:gain:=2.5"]))
    spec = la.children[0].spec.__class__("probe", "x", "probe", "probe", ("sim",), True, False)
    cmd = la.command(spec)
    code = ("import rclpy, sys; rclpy.init(args=sys.argv); n = rclpy.create_node('probe'); "
            "n.declare_parameter('gain', 0.0); print(n.get_parameter('gain').value); rclpy.shutdown()")
    r = subprocess.run([sys.executable, "-c", code] + cmd[3:], capture_output=True, text=True,
                       env=graph_env(claim_domain_id()), timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "2.5", r.stderr
