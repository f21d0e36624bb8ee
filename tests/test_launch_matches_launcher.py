"""The ros2 launch files and vla-launch must start the same nodes from the same config."""
import ast
import pathlib

import yaml

from vla_common.launcher import StackLauncher
from vla_common.stack import load_stack

ROOT = pathlib.Path(__file__).resolve().parents[1]


def launch_files():
    return sorted((ROOT / "launch").glob("*.launch.py"))


def test_every_launch_file_reads_the_shared_stack_spec():
    assert launch_files(), "no launch files"
    stack = yaml.safe_load((ROOT / "config" / "stack.yaml").read_text())
    executables = {n["executable"] for n in stack["nodes"]}
    for f in launch_files():
        tree = ast.parse(f.read_text())
        called = {n.func.id for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert {"load_stack", "params_file"} <= called, f"{f.name} must use vla_common.stack"
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        assert not (executables & literals), f"{f.name} hard-codes node executables"


def test_launcher_starts_exactly_the_stack_nodes_with_the_mode_params(tmp_path):
    for robot in ("franka", "aloha"):
        for mode in ("sim", "hw"):
            launcher = StackLauncher(robot, mode, tmp_path, echo=None)
            names = [c.spec.name for c in launcher.children]
            assert names == [s.name for s in load_stack(mode)]
            for c in launcher.children:
                cmd = launcher.command(c.spec)
                assert cmd[cmd.index("--params-file") + 1].endswith(f"{robot}_{mode}.yaml")
                assert f"__node:={c.spec.name}" in cmd


def test_sim_mode_includes_the_sim_bridge_and_hw_mode_does_not():
    assert "vla_sim" in [s.name for s in load_stack("sim")]
    assert "vla_sim" not in [s.name for s in load_stack("hw")]
