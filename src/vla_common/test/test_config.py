import numpy as np
import pytest

from vla_common.config import ConfigError, find_config_dir, load_robot_config, load_topics


@pytest.mark.parametrize("robot,n_arm,n_cmd", [("franka", 7, 8), ("aloha", 12, 14)])
@pytest.mark.parametrize("mode", ["sim", "hw"])
def test_robot_config_loads_joint_names_and_limits(robot, n_arm, n_cmd, mode):
    cfg = load_robot_config(robot, mode)
    assert len(cfg.arm_joint_names) == n_arm
    assert len(cfg.command_names) == n_cmd
    assert cfg.limits.names == cfg.arm_joint_names
    assert np.all(cfg.limits.pos_min_rad < cfg.limits.pos_max_rad)
    covered = sorted(j for o in cfg.interfaces.command_outputs for j in o.joints)
    assert covered == sorted(cfg.command_names)


def test_franka_limits_match_published_values():
    lim = load_robot_config("franka").limits
    assert lim.vel_max_rad_s[0] == pytest.approx(2.175)
    assert lim.pos_min_rad[3] == pytest.approx(-3.0718)
    assert lim.effort_max_nm[6] == pytest.approx(12.0)


def test_limits_arrays_are_read_only():
    lim = load_robot_config("franka").limits
    with pytest.raises(ValueError):
        lim.vel_max_rad_s[0] = 100.0


def test_unknown_robot_names_known_ones():
    with pytest.raises(ConfigError, match="unknown robot 'ur5'.*franka"):
        load_robot_config("ur5")


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(ConfigError, match="no interfaces for mode 'moon'"):
        load_robot_config("franka", "moon")


def _copy_config(tmp_path):
    import shutil
    dst = tmp_path / "config"
    shutil.copytree(find_config_dir(), dst)
    return dst


def test_missing_limit_entry_is_rejected(tmp_path):
    cdir = _copy_config(tmp_path)
    p = cdir / "robots" / "franka.yaml"
    p.write_text(p.read_text().replace("  panda_joint7: [", "  panda_jointX: ["))
    with pytest.raises(ConfigError, match="no entry for joint 'panda_joint7'"):
        load_robot_config("franka", "sim", cdir)


def test_inverted_position_limits_are_rejected(tmp_path):
    cdir = _copy_config(tmp_path)
    p = cdir / "robots" / "franka.yaml"
    p.write_text(p.read_text().replace("[-2.8973,     2.8973,   2.175,  15.0", "[2.8973,     -2.8973,   2.175,  15.0"))
    with pytest.raises(ConfigError, match="pos_min must be < pos_max"):
        load_robot_config("franka", "sim", cdir)


def test_invalid_yaml_names_the_file(tmp_path):
    cdir = _copy_config(tmp_path)
    (cdir / "robots" / "franka.yaml").write_text("arms: [\n")
    with pytest.raises(ConfigError, match="invalid YAML in .*franka.yaml"):
        load_robot_config("franka", "sim", cdir)


def test_command_output_with_unknown_joint_is_rejected(tmp_path):
    cdir = _copy_config(tmp_path)
    p = cdir / "robots" / "franka.yaml"
    p.write_text(p.read_text().replace("joints: [gripper]}", "joints: [grabber]}", 1))
    with pytest.raises(ConfigError, match="unknown joint 'grabber'"):
        load_robot_config("franka", "sim", cdir)


def test_topics_are_loaded_once():
    t = load_topics()
    assert t.latent == "/vla/latent"
    with pytest.raises(AttributeError):
        _ = t.no_such_topic
