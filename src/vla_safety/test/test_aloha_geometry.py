"""ALOHA collision geometry: MuJoCo collision geoms on the Pinocchio model, placed exactly where
MuJoCo puts them, arm-arm pairs checked, home pose clear."""
import numpy as np
import pytest

from vla_common.config import load_robot_config


@pytest.fixture(scope="module")
def aloha():
    from vla_safety.collision import build_geometry
    robot = load_robot_config("aloha", "sim")
    return robot, build_geometry(robot)


def _mj_pose(robot, q, w):
    import mujoco
    from vla_controller.kinematics import aloha_mjcf_path
    mj = mujoco.MjModel.from_xml_path(str(aloha_mjcf_path()))
    d = mujoco.MjData(mj)
    for i, nm in enumerate(robot.arm_joint_names):
        side, short = nm.split("_", 1)
        d.qpos[mj.jnt_qposadr[mj.joint(f"vx300s_{side}/{short}").id]] = q[i]
    for k, side in enumerate(("left", "right")):
        d.qpos[mj.jnt_qposadr[mj.joint(f"vx300s_{side}/left_finger").id]] = w[k]
        d.qpos[mj.jnt_qposadr[mj.joint(f"vx300s_{side}/right_finger").id]] = -w[k]
    mujoco.mj_forward(mj, d)
    return mj, d


def test_geoms_and_finger_tips_are_placed_where_mujoco_puts_them(aloha):
    import pinocchio as pin
    robot, g = aloha
    rng = np.random.default_rng(3)
    q, w = rng.uniform(-0.8, 0.8, 12), np.array([0.03, 0.05])
    mj, d = _mj_pose(robot, q, w)
    qq = g._set(q, w)
    pin.framesForwardKinematics(g.model, g.data, qq)
    pin.updateGeometryPlacements(g.model, g.data, g.geom, g.gdata, qq)
    checked = 0
    for i, o in enumerate(g.geom.geometryObjects):
        if o.name == "table":
            continue
        side, rest = o.name.split("_", 1)
        gid = mj.geom(f"vx300s_{side}/{rest}").id
        np.testing.assert_allclose(g.gdata.oMg[i].translation, d.geom_xpos[gid], atol=1e-9)
        np.testing.assert_allclose(g.gdata.oMg[i].rotation, d.geom_xmat[gid].reshape(3, 3), atol=1e-9)
        checked += 1
    assert checked == 20  # 10 collision geoms per arm (the base mesh is visual only)
    _, low = g.fence_points(q, w)
    for k, side in enumerate(("left", "right")):
        zs = []
        for f in ("left", "right"):
            gid = mj.geom(f"vx300s_{side}/10_{f}_gripper_finger").id
            m = mj.geom_dataid[gid]
            v = mj.mesh_vert[mj.mesh_vertadr[m]:mj.mesh_vertadr[m] + mj.mesh_vertnum[m]]
            zs.append(float((v @ d.geom_xmat[gid].reshape(3, 3).T + d.geom_xpos[gid])[:, 2].min()))
        assert low[k] == pytest.approx(min(zs), abs=1e-9)


def test_arm_arm_pairs_checked_and_home_pose_clear(aloha):
    robot, g = aloha
    pairs = g.pair_distances(np.concatenate([a.home_rad for a in robot.arms]), np.array([0.057, 0.057]))
    cross = [p for p in pairs if p.startswith("left_") and "/right_" in p]
    assert len(cross) >= 70
    assert not any("finger" in a and "finger" in b for a, b in (p.split("/") for p in cross))
    d = g.distances(np.concatenate([a.home_rad for a in robot.arms]), np.array([0.021, 0.021]))
    assert d.self_min_m > 0.03 and d.env_min_m > 0.05


def test_arms_reaching_into_each_other_give_negative_arm_arm_distance(aloha):
    robot, g = aloha
    q = np.concatenate([a.home_rad for a in robot.arms])
    names = robot.arm_joint_names
    before = g.distances(q, np.array([0.04, 0.04])).self_min_m
    for side in ("left", "right"):   # both arms stretch towards the middle of the table
        q[names.index(f"{side}_shoulder")] = 0.3
        q[names.index(f"{side}_elbow")] = -0.3
    d = g.distances(q, np.array([0.04, 0.04]))
    assert d.self_min_m < 0.0 < before
    assert d.self_pair.startswith("left_") and "/right_" in d.self_pair


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_pose_does_not_report_clear(aloha, bad):
    robot, g = aloha
    q = np.concatenate([a.home_rad for a in robot.arms])
    q[0] = bad
    d = g.distances(q, np.array([0.04, 0.04]))
    assert not (np.isfinite(d.self_min_m) and d.self_min_m > 0.03)
