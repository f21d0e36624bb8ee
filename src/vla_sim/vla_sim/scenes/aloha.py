"""ALOHA bimanual ViperX scene from gym-aloha's MJCF assets, read by path (gym_aloha is not
imported: it needs gymnasium).

The arm bodies, meshes, table and cameras come from the package's files. We replace what is
specific to its own sim: the huge joint friction losses (30..60 N m, used there as a stand-in for
stiff position servos) become viscous damping + armature; its position actuators become
torque-limited motors (the vx300s effort limits from config) driven by our PD controller, with
gravity compensation; each gripper becomes one position actuator on the left finger with the
right finger coupled by an equality. Task objects (cube; peg and socket) are added by us.
ROS-free.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np

from vla_sim.scenes.common import ModelFileError, require_file, site_packages

SIDES = ("left", "right")
JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
FILES = ("scene.xml", "vx300s_dependencies.xml", "vx300s_left.xml", "vx300s_right.xml")
# Joint damping (N m s/rad) and armature (kg m^2) replacing the friction losses.
DAMPING = {"waist": 1.0, "shoulder": 1.0, "elbow": 1.0, "forearm_roll": 0.3, "wrist_angle": 0.3,
           "wrist_rotate": 0.1}
ARMATURE = {"waist": 0.05, "shoulder": 0.05, "elbow": 0.05, "forearm_roll": 0.01,
            "wrist_angle": 0.01, "wrist_rotate": 0.005}
KP = (60.0, 120.0, 80.0, 12.0, 25.0, 8.0)
KD = (4.0, 8.0, 5.0, 0.6, 1.2, 0.4)
# The assets' 78 deg top view spans the whole 1.3 m table: the 4 cm cube is ~1 px in a 64 px
# planner frame. 45 deg frames the workspace (cube x +-0.2 m, the handover in the middle) at ~2x.
TOP_CAMERA_FOVY_DEG = 45.0
TCP_OFFSET_X = 0.14  # m from gripper_link origin along its x axis: between the fingertip pads


def aloha_assets_dir() -> Path:
    return site_packages() / "gym_aloha" / "assets"


def _parse(path: Path) -> ET.Element:
    require_file(path, "ALOHA model file (pip package gym-aloha)")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ModelFileError(f"corrupt ALOHA model file {path}: {e}") from e


def _sub(parent, tag, **attrs):
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})


def build_aloha_mjcf(assets_dir: str | os.PathLike | None = None) -> str:
    """MJCF string of the ALOHA table with both arms, a cube, a peg and a socket.

    Raises:
        ModelFileError: a file is missing or not valid XML.
    """
    adir = Path(assets_dir) if assets_dir else aloha_assets_dir()
    scene, deps, left, right = (_parse(adir / f) for f in FILES)
    root = ET.Element("mujoco", model="aloha_bimanual")
    _sub(root, "compiler", angle="radian", meshdir=str(adir), autolimits="true")
    opt = _sub(root, "option", timestep=0.002, integrator="implicitfast", cone="elliptic", impratio=10)
    _sub(opt, "flag", multiccd="enable")
    vis = _sub(root, "visual")
    _sub(vis, "global", offwidth=640, offheight=480)
    _sub(vis, "quality", offsamples=0)  # no multisampling: software (OSMesa) rendering cost
    _sub(vis, "headlight", ambient="0.4 0.4 0.4", diffuse="0.5 0.5 0.5", specular="0 0 0")
    asset = _sub(root, "asset")
    for src in (scene, deps):
        for a in src.iter("asset"):
            for m in a:
                asset.append(m)
    world = _sub(root, "worldbody")
    for child in scene.find("worldbody"):
        if child.tag == "light":
            child.set("castshadow", "false")  # shadows cost most of a software-rendered frame
        if child.tag == "camera" and child.get("name") == "top":
            # Looking straight down at its target leaves the roll undefined (pose jitter would
            # spin the image): a fixed camera with the image x axis along world x instead.
            child.attrib.pop("mode", None)
            child.attrib.pop("target", None)
            child.set("xyaxes", "1 0 0 0 1 0")
            child.set("fovy", str(TOP_CAMERA_FOVY_DEG))
        world.append(child)
    _sub(world, "geom", name="floor", type="plane", size="2 2 0.05", pos="0 0 -0.75",
         rgba="0.35 0.35 0.38 1", contype=1, conaffinity=3)
    for src in (left, right):
        for b in src:
            world.append(b)
    for b in world.iter("body"):
        name = b.get("name", "")
        if name.startswith("vx300s_"):
            b.set("gravcomp", "1")
            for g in b.findall("geom"):
                if g.get("contype") != "0":
                    g.set("contype", "2")
                    g.set("conaffinity", "1")
            if name.endswith("/gripper_link"):
                _sub(b, "site", name=f"{name.split('/')[0]}/tcp", pos=f"{TCP_OFFSET_X} 0 0", size=0.005,
                     rgba="1 0 0 0")
        for j in b.findall("joint"):
            jn = j.get("name", "")
            j.attrib.pop("frictionloss", None)
            short = jn.split("/")[-1]
            if short in DAMPING:
                j.set("damping", str(DAMPING[short]))
                j.set("armature", str(ARMATURE[short]))
            elif short.endswith("finger"):
                j.set("damping", "2")
                j.set("armature", "0.01")
    # Task objects: a cube (transfer) and a peg + socket (insertion); unused ones park off-table.
    b = _sub(world, "body", name="cube", pos="0.2 0.5 0.02")
    _sub(b, "freejoint", name="cube")
    _sub(b, "geom", name="cube", type="box", size="0.02 0.02 0.02", mass=0.05, rgba="1 0 0 1",
         condim=4, friction="1 0.005 0.0001", contype=1, conaffinity=3)
    b = _sub(world, "body", name="peg", pos="0.2 0.3 0.01")
    _sub(b, "freejoint", name="peg")
    _sub(b, "geom", name="peg", type="box", size="0.06 0.01 0.01", mass=0.05, rgba="1 0 0 1",
         condim=4, friction="1 0.005 0.0001", contype=1, conaffinity=3)
    b = _sub(world, "body", name="socket", pos="-0.2 0.3 0.02")
    _sub(b, "freejoint", name="socket")
    for i, (pos, size) in enumerate([("0 0 -0.018", "0.06 0.02 0.002"), ("0 0 0.018", "0.06 0.02 0.002"),
                                      ("0 0.018 0", "0.06 0.002 0.016"), ("0 -0.018 0", "0.06 0.002 0.016")]):
        _sub(b, "geom", name=f"socket_{i}", type="box", pos=pos, size=size, mass=0.0125,
             rgba="0 0 1 1", condim=4, friction="1 0.005 0.0001", contype=1, conaffinity=3)
    _sub(b, "geom", name="pin", type="box", pos="-0.02 0 0", size="0.04 0.008 0.008", mass=0.01,
         rgba="1 0 0 1", contype=1, conaffinity=3)
    eq = _sub(root, "equality")
    act = _sub(root, "actuator")
    effort = {"waist": 10, "shoulder": 20, "elbow": 15, "forearm_roll": 2, "wrist_angle": 5, "wrist_rotate": 1}
    for side in SIDES:
        for j in JOINTS:
            _sub(act, "motor", name=f"{side}_{j}", joint=f"vx300s_{side}/{j}",
                 ctrlrange=f"{-effort[j]} {effort[j]}")
    for side in SIDES:
        _sub(eq, "joint", joint1=f"vx300s_{side}/right_finger", joint2=f"vx300s_{side}/left_finger",
             polycoef="0 -1 0 0 0", solref="0.005 1")
        # Finger position target (m); fingers 5 N effort each on the real arm -> 10 N on the pair.
        _sub(act, "position", name=f"{side}_gripper", joint=f"vx300s_{side}/left_finger", kp=1500,
             ctrlrange="0.021 0.057", forcerange="-10 10")
    return ET.tostring(root, encoding="unicode")


def load_aloha_model(assets_dir: str | os.PathLike | None = None) -> mujoco.MjModel:
    """Compile the ALOHA scene.

    Raises:
        ModelFileError: missing/corrupt files or MuJoCo cannot compile them.
    """
    xml = build_aloha_mjcf(assets_dir)
    try:
        return mujoco.MjModel.from_xml_string(xml)
    except ValueError as e:
        raise ModelFileError(f"MuJoCo could not compile the ALOHA scene: {e}") from e


def aloha_scene_spec(robot_cfg, assets_dir: str | os.PathLike | None = None):
    """SceneSpec for ``robot_cfg``: config joint ``<side>_<joint>`` <-> MJCF ``vx300s_<side>/<joint>``,
    gripper ``<side>_gripper`` <-> fingers ``vx300s_<side>/left_finger`` (+ mirrored right_finger).

    Raises:
        ModelFileError: missing/corrupt model files. ValueError: unmapped config joints.
    """
    from vla_sim.scene_spec import GripperSpec, SceneSpec
    model = load_aloha_model(assets_dir)
    arm_joints, mj_joints, acts, grippers, home, kp, kd, arm_of = [], [], [], [], [], [], [], {}
    for arm in robot_cfg.arms:
        side = arm.name
        for j in arm.joints:
            short = j[len(side) + 1:] if j.startswith(side + "_") else None
            if short not in JOINTS:
                raise ValueError(f"config joint '{j}' does not map to an ALOHA MJCF joint")
            arm_joints.append(j)
            mj_joints.append(f"vx300s_{side}/{short}")
            acts.append(f"{side}_{short}")
            kp.append(KP[JOINTS.index(short)])
            kd.append(KD[JOINTS.index(short)])
            arm_of[j] = side
        home += list(arm.home_rad)
        g = arm.gripper
        grippers.append(GripperSpec(
            name=g.name, joints=(f"vx300s_{side}/left_finger", f"vx300s_{side}/right_finger"),
            actuator=f"{side}_gripper", qpos_per_width=(1.0, -1.0), ctrl_per_width=1.0,
            width_min_m=g.width_min_m, width_max_m=g.width_max_m, speed_max_m_s=g.speed_max_m_s))
    return SceneSpec(model=model, arm_joints=tuple(arm_joints), arm_mj_joints=tuple(mj_joints),
                     arm_actuators=tuple(acts), kp=np.array(kp), kd=np.array(kd),
                     grippers=tuple(grippers),
                     cameras={"top": "top", "left_wrist": "left_wrist", "right_wrist": "right_wrist"},
                     tcp_sites={s: f"vx300s_{s}/tcp" for s in SIDES}, home_q=np.array(home),
                     command_names=tuple(robot_cfg.command_names), arm_of_joint=arm_of,
                     vel_max_rad_s=robot_cfg.limits.subset(arm_joints).vel_max_rad_s.copy())
