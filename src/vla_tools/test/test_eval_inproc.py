"""The in-process evaluation runs the shipped weights with the node's chunk execution (real
MuJoCo, real torch, real Pinocchio controller; no ROS)."""
import pytest

from vla_common.config import find_config_dir
from vla_common.stack import node_params
from vla_tools import evaluate


@pytest.mark.parametrize("robot", ["aloha"])
def test_inproc_async_uses_the_yaml_strategy_and_sync_switches_naively(robot):
    models = find_config_dir().parent / "models" / robot  # shipped in git
    out = evaluate.evaluate_inproc(robot, ["transfer_cube"], [100000], models / "planner",
                                   models / "action_expert", modes=("async", "sync"),
                                   progress=False)
    by_mode = {ep["mode"]: ep for ep in out["episodes"]}
    yaml_strategy = node_params("vla_action_expert", robot, "sim")["execution_strategy"]
    assert by_mode["async"]["extra"]["execution_strategy"] == yaml_strategy
    assert by_mode["sync"]["extra"]["execution_strategy"] == "naive"
    assert all(isinstance(ep["success"], bool) for ep in by_mode.values())
