"""ALOHA collision geometry (ROS-free): MuJoCo collision geoms on the Pinocchio arm model.

The kinematic tree is ``vla_controller.kinematics.build_aloha_model`` (gym-aloha's MJCF compiled
by MuJoCo, converted body by body). That model welds the fingers; here each finger gets a
prismatic joint (MuJoCo's slide axis, oriented so that q = the gripper command, the finger
position in m) so the finger geometry moves with the gripper. Every MuJoCo geom of an arm body
that collides (contype or conaffinity non-zero: the visual-only base mesh is skipped) becomes a
coal shape on the matching Pinocchio joint: meshes as their convex hull, boxes, spheres,
capsules and cylinders as such. Objects (cube, peg, socket) are not obstacles.

Pairs not checked (see docs/SAFETY.md):
- geoms on the same joint, on a joint and its parent, and finger against finger (one gripper:
  its own range keeps them apart; both grippers: at a handover both hold the object between
  them, the finger hulls overlap there by ~1 mm; the other arm's gripper body is checked);
- pairs in contact (distance <= ``contact_tolerance_m``) at the home pose or at the MJCF
  keyframes, with the grippers open and closed (the convex hulls of neighbouring links overlap);
- the table against the shoulder links (mounted on the table, over the base) and the fingers
  (their lowest point is the per-command table-plane check).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vla_safety.collision import TABLE, ModelUnavailable, RobotGeometry, add_table

PREFIXES = {"vx300s_left": "left", "vx300s_right": "right"}
ENV_EXCLUDE_BODIES = ("shoulder_link",)


def _rename(mj_name: str) -> str | None:
    for pre, arm in PREFIXES.items():
        if mj_name == pre:
            return f"{arm}_base_link"
        if mj_name.startswith(pre + "/"):
            return f"{arm}_{mj_name[len(pre) + 1:]}"
    return None


def _se3(pin, quat_wxyz, pos):
    w, x, y, z = quat_wxyz
    return pin.SE3(pin.Quaternion(w, x, y, z).normalized().toRotationMatrix(), np.asarray(pos, float))


def convex_hull(coal, points: np.ndarray):
    """``coal.Convex`` hull of ``points`` ``(k, 3)``.

    Raises:
        ModelUnavailable: fewer than 4 non-coplanar points.
    """
    from scipy.spatial import ConvexHull, QhullError
    try:
        h = ConvexHull(np.asarray(points, float))
    except (QhullError, ValueError) as e:
        raise ModelUnavailable(f"no convex hull: {e}") from e
    used = np.unique(h.simplices)
    remap = np.full(len(points), -1)
    remap[used] = np.arange(len(used))
    verts = coal.StdVec_Vec3s()
    for p in points[used]:
        verts.append(np.asarray(p, float))
    tris = coal.StdVec_Triangle()
    for s in h.simplices:
        tris.append(coal.Triangle(*(int(i) for i in remap[s])))
    return coal.Convex(verts, tris)


def _shape(coal, mujoco, mj, g: int):
    t, size = mj.geom_type[g], mj.geom_size[g]
    G = mujoco.mjtGeom
    if t == G.mjGEOM_MESH:
        m = mj.geom_dataid[g]
        a, n = mj.mesh_vertadr[m], mj.mesh_vertnum[m]
        return convex_hull(coal, np.asarray(mj.mesh_vert[a:a + n], float))
    if t == G.mjGEOM_BOX:
        return coal.Box(*(2.0 * size))
    if t == G.mjGEOM_SPHERE:
        return coal.Sphere(size[0])
    if t == G.mjGEOM_CAPSULE:
        return coal.Capsule(size[0], 2.0 * size[1])
    if t == G.mjGEOM_CYLINDER:
        return coal.Cylinder(size[0], 2.0 * size[1])
    raise ModelUnavailable(f"geom {mj.geom(g).name}: unsupported type {int(t)}")


def build_aloha_geometry(robot_cfg, mjcf: Path | None = None, table_z_m: float = 0.0,
                         contact_tolerance_m: float = 0.0) -> RobotGeometry:
    """Geometry of both ViperX arms in the MJCF world frame.

    Args:
        robot_cfg: ALOHA RobotConfig (arm joints, finger joints ``<arm>_<left|right>_finger``,
            ee frames, home pose).
        mjcf: scene file; default ``vla_controller.kinematics.aloha_mjcf_path(robot_cfg)``.
        table_z_m: table top height (world frame).
        contact_tolerance_m: pairs closer than this at home/keyframes are not checked.
    Raises:
        ModelUnavailable: files missing, or names that do not match the model.
    """
    import coal
    import mujoco
    import pinocchio as pin

    from vla_common.config import ConfigError
    from vla_controller.kinematics import aloha_mjcf_path, build_aloha_model
    try:
        mjcf = Path(mjcf) if mjcf else aloha_mjcf_path(robot_cfg)
        model = build_aloha_model(mjcf)
        mj = mujoco.MjModel.from_xml_path(str(mjcf))
    except (ConfigError, ValueError) as e:
        raise ModelUnavailable(f"ALOHA model: {e}") from e
    # mj body id -> (pin joint id, body frame placement in that joint)
    where: dict[int, tuple[int, object]] = {}
    finger_names = {j for a in robot_cfg.arms if a.gripper is not None for j in a.gripper.joints}
    for b in range(1, mj.nbody):
        name = _rename(mj.body(b).name)
        if name is None or not model.existFrame(name):
            continue
        f = model.frames[model.getFrameId(name)]
        where[b] = (f.parentJoint, f.placement)
        for j in range(mj.body_jntadr[b], mj.body_jntadr[b] + mj.body_jntnum[b]):
            jname = _rename(mj.joint(j).name)
            if jname not in finger_names:
                continue
            if mj.jnt_type[j] != mujoco.mjtJoint.mjJNT_SLIDE:
                raise ModelUnavailable(f"finger joint {mj.joint(j).name} is not a slide joint")
            # q = finger position (m): flip the axis of a finger whose range is negative
            sign = 1.0 if mj.jnt_range[j][1] > 0 else -1.0
            axis = sign * mj.jnt_axis[j] / np.linalg.norm(mj.jnt_axis[j])
            anchor = pin.SE3(np.eye(3), mj.jnt_pos[j].copy())
            jid = model.addJoint(f.parentJoint, pin.JointModelPrismaticUnaligned(axis),
                                 f.placement * anchor, jname)
            where[b] = (jid, anchor.inverse())
    missing = finger_names - set(model.names)
    if missing:
        raise ModelUnavailable(f"finger joints {sorted(missing)} not in {mjcf}")
    geom = pin.GeometryModel()
    owner = []  # per geometry: (joint id, arm prefix, body name)
    for g in range(mj.ngeom):
        b = int(mj.geom_bodyid[g])
        if b not in where or (mj.geom_contype[g] == 0 and mj.geom_conaffinity[g] == 0):
            continue
        jid, M_body = where[b]
        M = M_body * _se3(pin, mj.geom_quat[g], mj.geom_pos[g])
        gname = _rename(mj.geom(g).name) or f"{_rename(mj.body(b).name)}_geom{g}"
        geom.addGeometryObject(pin.GeometryObject(gname, jid, 0, M, _shape(coal, mujoco, mj, g)))
        owner.append((jid, gname.split("_")[0], _rename(mj.body(b).name)))
    n = len(owner)
    fingers = {model.getJointId(j) for j in finger_names}
    parents = model.parents

    def related(i: int, k: int) -> bool:
        a, b = owner[i][0], owner[k][0]
        # fingers against fingers (same gripper, or the other arm's at a handover: both hold
        # the object between them; their hulls overlap there)
        return (a == b or parents[a] == b or parents[b] == a or (a in fingers and b in fingers))
    for i in range(n):
        for k in range(i + 1, n):
            if not related(i, k):
                geom.addCollisionPair(pin.CollisionPair(i, k))
    tid = add_table(pin, coal, geom, table_z_m)
    tips = {a.name: [] for a in robot_cfg.arms}
    for i, (jid, arm, body) in enumerate(owner):
        if jid in fingers:
            tips[arm].append(geom.geometryObjects[i].name)
        elif not body.endswith(ENV_EXCLUDE_BODIES):
            geom.addCollisionPair(pin.CollisionPair(i, tid))
    grip = tuple(tuple(a.gripper.joints) for a in robot_cfg.arms if a.gripper is not None)
    geo = RobotGeometry(model, geom, robot_cfg.arm_joint_names, grip, 1.0,
                        tuple(a.ee_frame for a in robot_cfg.arms),
                        tuple(tuple(tips[a.name]) for a in robot_cfg.arms))
    _drop_resting_contacts(geo, robot_cfg, mj, contact_tolerance_m)
    return geo


def reference_poses(robot_cfg, mj) -> list[tuple[np.ndarray, np.ndarray]]:
    """(arm q, gripper widths) at the config home pose and the MJCF keyframes, grippers open
    and closed."""
    poses = []
    home = np.concatenate([a.home_rad for a in robot_cfg.arms])
    arm_q = [home]
    names = robot_cfg.arm_joint_names
    for k in range(mj.nkey):
        q = np.zeros(len(names))
        for i, nm in enumerate(names):
            side, short = nm.split("_", 1)
            q[i] = mj.key_qpos[k][mj.jnt_qposadr[mj.joint(f"vx300s_{side}/{short}").id]]
        arm_q.append(q)
    grips = [a.gripper for a in robot_cfg.arms if a.gripper is not None]
    for q in arm_q:
        for w in (np.array([g.width_min_m for g in grips]), np.array([g.width_max_m for g in grips])):
            poses.append((q, w))
    return poses


def _drop_resting_contacts(geo: RobotGeometry, robot_cfg, mj, tol_m: float) -> None:
    """Remove the self pairs in contact at any reference pose (collision data is rebuilt)."""
    import pinocchio as pin
    drop = set()
    for q, w in reference_poses(robot_cfg, mj):
        for pair, d in geo.pair_distances(q, w).items():
            if d <= tol_m and TABLE not in pair.split("/"):
                drop.add(pair)
    names = geo.geom.geometryObjects
    for cp in list(geo.geom.collisionPairs):
        if f"{names[cp.first].name}/{names[cp.second].name}" in drop:
            geo.geom.removeCollisionPair(cp)
    geo.dropped_pairs = tuple(sorted(drop))
    geo.gdata = pin.GeometryData(geo.geom)
    geo._is_env = np.array([TABLE in (names[cp.first].name, names[cp.second].name)
                            for cp in geo.geom.collisionPairs], bool)

