"""The in-process evaluation runs the shipped weights with the node's chunk execution (real
MuJoCo, real torch, real Pinocchio controller; no ROS)."""
import pytest

from vla_common.config import find_config_dir
from vla_common.stack import node_params
from vla_tools import evaluate


@pytest.mark.parametrize("robot", ["aloha"])
def test_inproc_episode_executes_chunks_with_the_yaml_strategy(robot):
    models = find_config_dir().parent / "models" / robot
    if not (models / "action_expert" / "model.safetensors").exists():
        pytest.skip(f"no shipped weights in {models}")
    out = evaluate.evaluate_inproc(robot, ["transfer_cube"], [100000], models / "planner",
                                   models / "action_expert", modes=("async",), progress=False)
    (ep,) = out["episodes"]
    yaml_strategy = node_params("vla_action_expert", robot, "sim")["execution_strategy"]
    assert ep["extra"]["execution_strategy"] == yaml_strategy
    assert isinstance(ep["success"], bool) and ep["mode"] == "async"
