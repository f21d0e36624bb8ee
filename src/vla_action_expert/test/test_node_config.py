"""Node parameters and checkpoint resolution (ROS-free)."""
from pathlib import Path

import pytest

from vla_action_expert.configuration import CheckpointError
from vla_action_expert.init_checkpoint import main as init_main, random_init_policy
from vla_action_expert.node_config import (ActionExpertNodeConfig, default_checkpoint_dir,
                                           load_inline_planner, load_policy)
from vla_common.config import find_config_dir, load_robot_config


@pytest.fixture(scope="module")
def franka():
    return load_robot_config("franka", "sim")


def test_default_checkpoint_dir_is_models_robot_action_expert():
    assert default_checkpoint_dir(Path("/repo/config"), "aloha") == \
        Path("/repo/models/aloha/action_expert")


def test_missing_checkpoint_without_random_init_is_a_clear_error(franka, tmp_path):
    cfg = ActionExpertNodeConfig(checkpoint_dir=str(tmp_path / "none"))
    with pytest.raises(CheckpointError, match="allow_random_init"):
        load_policy(cfg, franka, find_config_dir())


def test_missing_checkpoint_with_random_init_warns_in_the_source(franka, tmp_path):
    cfg = ActionExpertNodeConfig(checkpoint_dir=str(tmp_path / "none"), allow_random_init=True,
                                 num_inference_steps=3, seed=9)
    pol, src = load_policy(cfg, franka, find_config_dir())
    assert src.startswith("RANDOM INIT") and pol.num_inference_steps == 3 and pol.seed == 9
    assert pol.config.action_names == franka.command_names


def test_init_checkpoint_cli_output_loads_for_the_robot(franka, tmp_path):
    assert init_main(["--robot", "franka", "--out", str(tmp_path), "--seed", "2"]) == 0
    pol, src = load_policy(ActionExpertNodeConfig(checkpoint_dir=str(tmp_path)), franka,
                           find_config_dir())
    assert src == f"checkpoint {tmp_path}" and pol.config.seed == 2


def test_init_checkpoint_cli_unknown_robot_exits_2(tmp_path, capsys):
    assert init_main(["--robot", "nobot", "--out", str(tmp_path)]) == 2
    assert "unknown robot" in capsys.readouterr().err


def test_random_init_policy_commands_near_home(franka):
    import numpy as np
    pol = random_init_policy(franka, seed=0)
    obs = {"latent": np.zeros(128), "latent_age_s": 0.1, "state": pol.norm.state_mean}
    chunk = pol.predict_action_chunk(obs)
    home = np.r_[franka.home_rad, 0.04]
    assert np.all(np.abs(chunk - home) < 0.5)


@pytest.mark.parametrize("kw", [{"execution_strategy": "fast"}, {"interpolation": "sinc"},
                                {"inference_rate_hz": 0.0}, {"stream_rate_hz": -1.0},
                                {"torch_threads": 0}, {"latent_timeout_s": 0.0}])
def test_bad_node_params_are_rejected(kw):
    with pytest.raises(ValueError):
        ActionExpertNodeConfig(**kw)


def test_stream_rate_defaults_per_robot():
    c = ActionExpertNodeConfig()
    assert c.stream_rate_for("franka") == 200.0 and c.stream_rate_for("aloha") == 50.0
    assert ActionExpertNodeConfig(stream_rate_hz=100.0).stream_rate_for("aloha") == 100.0


def test_inline_planner_forces_naive_execution_and_still_validates_the_strategy():
    c = ActionExpertNodeConfig(inline_planner=True, execution_strategy="rtc")
    assert c.strategy == "naive" and c.executor_config().strategy == "naive"
    assert ActionExpertNodeConfig().executor_config().strategy == "rtc"
    with pytest.raises(ValueError):
        ActionExpertNodeConfig(inline_planner=True, execution_strategy="fast")


@pytest.mark.parametrize("robot", ["franka", "aloha"])
def test_node_config_reads_every_shipped_sim_yaml_as_the_node_declares_it(robot):
    from vla_common.stack import node_config, node_params
    params = node_params("vla_action_expert", robot, "sim")
    c = node_config(ActionExpertNodeConfig, "vla_action_expert", robot, "sim")
    assert c.executor_config().strategy == params["execution_strategy"]
    assert c.inference_rate_hz == float(params["inference_rate_hz"])


def _yaml_config_dir(tmp_path, body: str):
    (tmp_path / "stack.yaml").write_text("")  # marks a config dir
    (tmp_path / "franka_sim.yaml").write_text("vla_action_expert:\n  ros__parameters:\n" + body)
    return tmp_path


def test_node_config_turns_yaml_ints_into_float_params_and_keeps_bools(tmp_path):
    from vla_common.stack import node_config
    d = _yaml_config_dir(tmp_path, "    inference_rate_hz: 12\n    stream_process: false\n"
                                   "    use_sim_time: true\n")  # not a field: ignored, as by the node
    c = node_config(ActionExpertNodeConfig, "vla_action_expert", "franka", "sim", config_dir=d)
    assert isinstance(c.inference_rate_hz, float) and c.inference_rate_hz == 12.0
    assert c.stream_process is False


def test_node_config_rejects_a_bad_strategy(tmp_path):
    from vla_common.stack import node_config
    d = _yaml_config_dir(tmp_path, "    execution_strategy: fast\n")
    with pytest.raises(ValueError):
        node_config(ActionExpertNodeConfig, "vla_action_expert", "franka", "sim", config_dir=d)


def test_inline_planner_resolves_like_the_planner_node(franka, tmp_path):
    from vla_planner.planner_core import default_checkpoint_dir as planner_dir
    cfg = ActionExpertNodeConfig(inline_planner=True, planner_checkpoint_dir=str(tmp_path / "none"))
    with pytest.raises(ValueError, match="allow_random_init"):
        load_inline_planner(cfg, franka, find_config_dir())
    core, src = load_inline_planner(
        ActionExpertNodeConfig(inline_planner=True, allow_random_init=True,
                               planner_checkpoint_dir=str(tmp_path / "none")),
        franka, find_config_dir())
    assert src.startswith("RANDOM INIT") and core.backbone.latent_dim == 128
    assert tuple(core.backbone.cameras) == tuple(franka.cameras)
    assert core.cfg.skip_repeated_frames and core.state_names == tuple(franka.command_names)
    shipped = planner_dir("franka", None)
    if (shipped / "model.safetensors").is_file():  # the default: models/<robot>/planner
        core, src = load_inline_planner(ActionExpertNodeConfig(inline_planner=True), franka,
                                        find_config_dir())
        assert src == f"checkpoint {shipped}"


@pytest.mark.parametrize("prio, ok", [(0, True), (50, True), (99, True), (-1, False), (100, False)])
def test_stream_rt_priority_outside_0_99_is_rejected(prio, ok):
    from vla_action_expert.node_config import ActionExpertNodeConfig
    if ok:
        assert ActionExpertNodeConfig(stream_rt_priority=prio).stream_rt_priority == prio
    else:
        with pytest.raises(ValueError, match="stream_rt_priority"):
            ActionExpertNodeConfig(stream_rt_priority=prio)
