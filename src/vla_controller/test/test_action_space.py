"""Action space names."""
import pytest

from vla_controller import action_space as asp


def test_default_space_names_are_command_names(franka_cfg, aloha_cfg):
    assert asp.action_names(franka_cfg) == franka_cfg.command_names
    assert asp.action_names(aloha_cfg) == aloha_cfg.command_names


def test_ee_pose_names_per_arm_then_gripper(aloha_cfg):
    names = asp.action_names(aloha_cfg, asp.EE_POSE)
    assert names[:7] == ("left_ee_x", "left_ee_y", "left_ee_z", "left_ee_rx", "left_ee_ry",
                         "left_ee_rz", "left_gripper")
    assert len(names) == 14 and names[-1] == "right_gripper"


def test_delta_spaces_have_distinct_names(franka_cfg):
    jd = asp.action_names(franka_cfg, asp.JOINT_DELTA)
    assert jd[0] == "panda_joint1_delta" and jd[-1] == "gripper"
    assert asp.action_names(franka_cfg, asp.EE_DELTA)[:3] == ("arm_ee_dx", "arm_ee_dy", "arm_ee_dz")
    assert asp.action_dim(franka_cfg, asp.EE_DELTA) == 7
    assert len({asp.action_names(franka_cfg, s) for s in asp.SPACES}) == 4


@pytest.mark.parametrize("bad", ["", "joint", "EE_POSE"])
def test_unknown_space_raises(franka_cfg, bad):
    with pytest.raises(ValueError):
        asp.action_names(franka_cfg, bad)
