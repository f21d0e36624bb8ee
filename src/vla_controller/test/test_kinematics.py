"""Pinocchio kinematics against MuJoCo (same URDF for Franka, gym-aloha's MJCF for ALOHA)."""
import mujoco
import numpy as np
import pytest

from vla_common.config import ConfigError
from vla_controller.kinematics import aloha_mjcf_path, load_kinematics


def _random_q(kin, rng):
    return rng.uniform(kin.q_min_rad, kin.q_max_rad)


def test_model_joint_order_matches_config(franka_cfg, franka_kin, aloha_cfg, aloha_kin):
    assert franka_kin.joint_names == franka_cfg.arm_joint_names
    assert aloha_kin.joint_names == aloha_cfg.arm_joint_names
    assert aloha_kin.joint_names[0] == "left_waist" and aloha_kin.joint_names[6] == "right_waist"
    assert franka_kin.nq == 7 and aloha_kin.nq == 12


def test_franka_fk_matches_mujoco_on_random_configurations(franka_kin, panda_mujoco, rng):
    m = panda_mujoco(motors=False)
    d = mujoco.MjData(m)
    bodies = [m.body(b).name for b in range(1, m.nbody)
              if m.body(b).name.startswith("panda_") and "finger" not in m.body(b).name]
    assert "panda_hand_tcp" in bodies and "panda_link7" in bodies
    worst = 0.0
    for _ in range(100):
        q = _random_q(franka_kin, rng)
        d.qpos[:] = 0.0
        d.qpos[:7] = q          # fingers at 0, where the Pinocchio arm model locks them
        mujoco.mj_kinematics(m, d)
        poses = franka_kin.fk(q, bodies)
        for b in bodies:
            T = poses[b]
            worst = max(worst, np.abs(T[:3, 3] - d.body(b).xpos).max(),
                        np.abs(T[:3, :3] - d.body(b).xmat.reshape(3, 3)).max())
    assert worst < 1e-6


def test_aloha_fk_matches_gym_aloha_mjcf_on_random_configurations(aloha_kin, rng):
    m = mujoco.MjModel.from_xml_path(str(aloha_mjcf_path()))
    d = mujoco.MjData(m)
    adr = [m.jnt_qposadr[m.joint(n.replace("left_", "vx300s_left/", 1).replace(
        "right_", "vx300s_right/", 1)).id] for n in aloha_kin.joint_names]
    pairs = []
    for b in range(m.nbody):
        n = m.body(b).name
        for pre, arm in (("vx300s_left/", "left_"), ("vx300s_right/", "right_")):
            if n.startswith(pre) and "finger" not in n:
                pairs.append((n, arm + n[len(pre):]))
    assert len(pairs) >= 14
    worst = 0.0
    for _ in range(100):
        q = _random_q(aloha_kin, rng)
        d.qpos[:] = m.qpos0
        d.qpos[adr] = q
        mujoco.mj_kinematics(m, d)
        poses = aloha_kin.fk(q, [p for _, p in pairs])
        for mj_name, pin_name in pairs:
            T = poses[pin_name]
            worst = max(worst, np.abs(T[:3, 3] - d.body(mj_name).xpos).max(),
                        np.abs(T[:3, :3] - d.body(mj_name).xmat.reshape(3, 3)).max())
    assert worst < 1e-6


def test_franka_gravity_matches_mujoco_bias(franka_kin, panda_mujoco, rng):
    m = panda_mujoco(motors=False)
    d = mujoco.MjData(m)
    for _ in range(20):
        q = _random_q(franka_kin, rng)
        d.qpos[:] = 0.0
        d.qpos[:7] = q
        d.qvel[:] = 0.0
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(franka_kin.gravity(q), d.qfrc_bias[:7], atol=1e-6)


def test_jacobian_matches_finite_difference_of_fk(franka_kin, rng):
    q = _random_q(franka_kin, rng)
    J = franka_kin.jacobian(q, "panda_hand_tcp")
    p0, _ = franka_kin.frame_pose(q, "panda_hand_tcp")
    eps = 1e-7
    for i in range(7):
        dq = np.zeros(7)
        dq[i] = eps
        p1, _ = franka_kin.frame_pose(q + dq, "panda_hand_tcp")
        np.testing.assert_allclose((p1 - p0) / eps, J[:3, i], atol=1e-5)


def test_tcp_frames_exist(aloha_kin, franka_kin):
    assert set(aloha_kin.ee_frames.values()) == {"left_gripper_tcp", "right_gripper_tcp"}
    T = aloha_kin.fk(np.zeros(12), ["left_gripper_link", "left_gripper_tcp"])
    d = T["left_gripper_tcp"][:3, 3] - T["left_gripper_link"][:3, 3]
    assert np.linalg.norm(d) == pytest.approx(0.13)
    assert franka_kin.ee_frames == {"arm": "panda_hand_tcp"}


@pytest.mark.parametrize("bad", [np.full(7, np.nan), np.full(7, np.inf), np.zeros(6), np.zeros(0)])
def test_fk_bad_q_raises(franka_kin, bad):
    with pytest.raises(ValueError):
        franka_kin.fk(bad)


def test_unknown_frame_raises(franka_kin):
    with pytest.raises(KeyError):
        franka_kin.jacobian(np.zeros(7), "no_such_frame")


def test_missing_description_raises_config_error(franka_cfg):
    import dataclasses
    cfg = dataclasses.replace(franka_cfg, description={"urdf": "/nonexistent/panda.urdf"})
    with pytest.raises(ConfigError):
        load_kinematics(cfg)
    with pytest.raises(ConfigError):
        load_kinematics(dataclasses.replace(franka_cfg, description={}))


def test_wrong_ee_frame_raises_config_error(franka_cfg):
    import dataclasses
    arm = dataclasses.replace(franka_cfg.arms[0], ee_frame="nope")
    with pytest.raises(ConfigError):
        load_kinematics(dataclasses.replace(franka_cfg, arms=(arm,)))
