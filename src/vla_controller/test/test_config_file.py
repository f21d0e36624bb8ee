"""The controller built from config/<robot>_<mode>.yaml, as the node builds it."""
import pytest

from vla_common.config import load_robot_config
from vla_controller.config_file import controller_config, make_controller


def test_sim_params_file_gives_the_nodes_values():
    cfg = controller_config("franka", "sim")
    assert cfg.rate_hz == 500.0 and cfg.target_delay_s == 0.01 and not cfg.velocity_feedforward
    assert cfg.joint_stiffness == (600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0)


def test_overrides_replace_file_values():
    assert controller_config("aloha", "sim", velocity_feedforward=True).velocity_feedforward


def test_invalid_override_raises():
    with pytest.raises(ValueError):
        controller_config("franka", "sim", target_delay_s=-1.0)


def test_make_controller_uses_the_robot_mode():
    c = make_controller(load_robot_config("aloha", "sim"))
    assert c.rate_hz == 500.0 and len(c.names) == 14


def test_missing_section_is_a_config_error(tmp_path):
    from vla_common.config import ConfigError
    (tmp_path / "stack.yaml").write_text("nodes: []\n")   # a config dir holds stack.yaml
    (tmp_path / "franka_sim.yaml").write_text("vla_safety:\n  ros__parameters: {}\n")
    with pytest.raises(ConfigError, match="vla_controller"):
        controller_config("franka", "sim", config_dir=tmp_path)
