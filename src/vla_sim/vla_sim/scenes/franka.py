"""Franka Panda scene: MJCF built from example-robot-data's URDF plus a table-top task scene.

The URDF's ``package://`` mesh paths are rewritten to the installed folder and the visual .dae
meshes (MuJoCo cannot read them) replaced by the .stl collision meshes. MuJoCo compiles the URDF,
the result is saved as MJCF and extended with: joint armature, gravity compensation (the real
arm compensates gravity in firmware, commanded torques exclude it), torque-limited motors, the
gripper's finger equality + tendon position actuator, cameras, lights and the task objects.
ROS-free.
"""
from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco

from vla_sim.scenes.common import ModelFileError, lookat_xyaxes, require_file, site_packages

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
# Reflected rotor inertia per joint (kg m^2): not in the URDF; typical value for the Panda drives.
ARMATURE = 0.1
# Viscous joint damping (N m s/rad): keeps the unpowered arm from ringing; small vs. the PD.
JOINT_DAMPING = 0.5
N_CUBES = 4
N_PLATES = 2
CUBE_HALF_M = 0.02
PLATE_RADIUS_M = 0.06
PLATE_HALF_H_M = 0.004
TABLE_Z_M = 0.0
SCENE_CAM_POS = (1.05, 0.0, 0.65)
SCENE_CAM_TARGET = (0.42, 0.0, 0.08)


def panda_description_dir() -> Path:
    return site_packages() / "cmeel.prefix" / "share" / "example-robot-data" / "robots" / "panda_description"


def _urdf_text(urdf_path: Path, desc_dir: Path) -> str:
    text = require_file(urdf_path, "Franka URDF (pip package example-robot-data)").read_text()
    text = text.replace("package://example-robot-data/robots/panda_description", str(desc_dir))
    text = re.sub(r"meshes/visual/(\w+)\.dae", r"meshes/collision/\1.stl", text)
    for m in re.findall(r'filename="([^"]+)"', text):
        require_file(Path(m), "Franka mesh (example-robot-data)")
    # Keep fixed links (hand, tcp) as bodies; only collision geoms (they double as visuals).
    return re.sub(r"<robot([^>]*)>", r'<robot\1><mujoco><compiler discardvisual="true" '
                  r'fusestatic="false" strippath="false"/></mujoco>', text, count=1)


def _compile_urdf_to_mjcf(urdf_text: str) -> ET.Element:
    try:
        model = mujoco.MjModel.from_xml_string(urdf_text)
    except ValueError as e:
        raise ModelFileError(f"MuJoCo could not compile the Franka URDF: {e}") from e
    fd, tmp = tempfile.mkstemp(suffix=".xml")
    os.close(fd)
    try:
        mujoco.mj_saveLastXML(tmp, model)
        return ET.parse(tmp).getroot()
    finally:
        os.unlink(tmp)


def _sub(parent: ET.Element, tag: str, **attrs) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})


def build_franka_mjcf(urdf_path: str | os.PathLike | None = None) -> str:
    """Return the full Franka table-top scene as an MJCF string.

    Args:
        urdf_path: the Panda URDF; default: example-robot-data's ``panda.urdf``.
    Raises:
        ModelFileError: the URDF or a mesh is missing, or MuJoCo cannot compile it.
    """
    desc = panda_description_dir()
    urdf = Path(urdf_path) if urdf_path else desc / "urdf" / "panda.urdf"
    root = _compile_urdf_to_mjcf(_urdf_text(urdf, desc))
    root.set("model", "franka_tabletop")
    root.find("compiler").set("autolimits", "true")
    opt = _sub(root, "option", timestep=0.002, integrator="implicitfast", cone="elliptic",
               impratio=10)
    _sub(opt, "flag", multiccd="enable")
    vis = _sub(root, "visual")
    _sub(vis, "global", offwidth=640, offheight=480)
    _sub(vis, "headlight", ambient="0.3 0.3 0.3", diffuse="0.4 0.4 0.4", specular="0 0 0")
    asset = root.find("asset")
    _sub(asset, "texture", name="grid", type="2d", builtin="checker", width=256, height=256,
         rgb1="0.55 0.45 0.35", rgb2="0.5 0.4 0.32")
    _sub(asset, "material", name="table", texture="grid", texrepeat="8 8", reflectance=0.0)

    world = root.find("worldbody")
    bodies = {b.get("name"): b for b in world.iter("body")}
    for name, b in bodies.items():
        if name != "panda_link0":
            b.set("gravcomp", "1")
        for g in b.findall("geom"):
            # Robot geoms: contype 2 / conaffinity 1 -> touch the scene, not each other.
            g.set("contype", "2")
            g.set("conaffinity", "1")
            g.set("rgba", "0.95 0.95 0.95 1" if "finger" not in name else "0.2 0.2 0.2 1")
            if "finger" in name:
                g.set("friction", "1.5 0.02 0.001")
                g.set("condim", "4")
        for j in b.findall("joint"):
            if j.get("name") in ARM_JOINTS:
                j.set("armature", str(ARMATURE))
                j.set("damping", str(JOINT_DAMPING))
            else:
                j.set("armature", "0.01")
                j.set("damping", "5")
    hand = bodies["panda_hand"]
    _sub(bodies["panda_hand_tcp"], "site", name="tcp", size=0.005, rgba="1 0 0 0")
    # Wrist camera on the hand, looking along the fingers (hand +z), tilted to see the grasp.
    _sub(hand, "camera", name="wrist", pos="0.075 0 0.05", fovy=75,
         xyaxes=lookat_xyaxes((0.075, 0, 0.05), (0.0, 0, 0.22), up=(1, 0, 0)))

    world.insert(0, ET.Element("light", {"name": "key", "pos": "0.5 -0.6 2.0", "dir": "0 0.3 -1",
                                         "directional": "true", "diffuse": "0.6 0.6 0.6",
                                         "castshadow": "false"}))
    world.insert(0, ET.Element("geom", {"name": "table", "type": "plane", "size": "2 2 0.05",
                                        "material": "table", "contype": "1", "conaffinity": "3",
                                        "friction": "1 0.005 0.0001"}))
    _sub(world, "camera", name="scene", pos=" ".join(map(str, SCENE_CAM_POS)), fovy=50,
         xyaxes=lookat_xyaxes(SCENE_CAM_POS, SCENE_CAM_TARGET))
    for i in range(N_CUBES):
        b = _sub(world, "body", name=f"cube_{i}", pos=f"{0.4 + 0.1 * i} 0.4 {CUBE_HALF_M}")
        _sub(b, "freejoint", name=f"cube_{i}")
        _sub(b, "geom", name=f"cube_{i}", type="box", size=f"{CUBE_HALF_M} {CUBE_HALF_M} {CUBE_HALF_M}",
             mass=0.05, rgba="1 0 0 1", contype=1, conaffinity=3, condim=4,
             friction="1 0.01 0.001")
    for i in range(N_PLATES):
        b = _sub(world, "body", name=f"plate_{i}", pos=f"{0.4 + 0.15 * i} -0.4 {PLATE_HALF_H_M}")
        _sub(b, "freejoint", name=f"plate_{i}")
        _sub(b, "geom", name=f"plate_{i}", type="cylinder", size=f"{PLATE_RADIUS_M} {PLATE_HALF_H_M}",
             mass=0.5, rgba="0 0 1 1", contype=1, conaffinity=3, condim=3)
    # Distractors: shapes that are not cubes or plates.
    b = _sub(world, "body", name="distractor_0", pos="0.3 0.6 0.03")
    _sub(b, "freejoint", name="distractor_0")
    _sub(b, "geom", name="distractor_0", type="cylinder", size="0.02 0.03", mass=0.1,
         rgba="0.5 0.5 0.5 1", contype=1, conaffinity=3)
    b = _sub(world, "body", name="distractor_1", pos="0.3 -0.6 0.03")
    _sub(b, "freejoint", name="distractor_1")
    _sub(b, "geom", name="distractor_1", type="capsule", size="0.018 0.012", mass=0.1,
         rgba="0.5 0.5 0.5 1", contype=1, conaffinity=3)

    tendon = _sub(root, "tendon")
    fixed = _sub(tendon, "fixed", name="gripper_split")
    _sub(fixed, "joint", joint=FINGER_JOINTS[0], coef=0.5)
    _sub(fixed, "joint", joint=FINGER_JOINTS[1], coef=0.5)
    eq = _sub(root, "equality")
    _sub(eq, "joint", joint1=FINGER_JOINTS[0], joint2=FINGER_JOINTS[1], solimp="0.95 0.99 0.001",
         solref="0.005 1")
    act = _sub(root, "actuator")
    effort = {j: (87.0 if i < 4 else 12.0) for i, j in enumerate(ARM_JOINTS)}
    for j in ARM_JOINTS:
        _sub(act, "motor", name=j, joint=j, ctrlrange=f"{-effort[j]} {effort[j]}")
    # Finger position (per finger, m) -> force on the split tendon; 140 N tendon = 70 N per finger
    # (Franka Hand continuous grasp force).
    _sub(act, "position", name="gripper", tendon="gripper_split", kp=2000, ctrlrange="0 0.04",
         forcerange="-140 140")
    return ET.tostring(root, encoding="unicode")


def load_franka_model(urdf_path: str | os.PathLike | None = None) -> mujoco.MjModel:
    """Compile the Franka scene.

    Raises:
        ModelFileError: missing/corrupt model files.
    """
    xml = build_franka_mjcf(urdf_path)
    try:
        return mujoco.MjModel.from_xml_string(xml)
    except ValueError as e:
        raise ModelFileError(f"MuJoCo could not compile the Franka scene: {e}") from e


# PD gains of the simulated joint position controller (N m/rad, N m s/rad): stiff on the big
# joints, softer on the wrist whose drives saturate at 12 N m.
KP = (600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0)
KD = (50.0, 50.0, 50.0, 50.0, 30.0, 25.0, 15.0)


def franka_scene_spec(robot_cfg, urdf_path: str | os.PathLike | None = None):
    """SceneSpec of the Franka table-top scene for ``robot_cfg`` (a vla_common RobotConfig).

    Raises:
        ModelFileError: missing/corrupt model files.
        ValueError: the config names joints the model does not have.
    """
    import numpy as np

    from vla_sim.scene_spec import GripperSpec, SceneSpec
    model = load_franka_model(urdf_path)
    arm = robot_cfg.arms[0]
    for j in arm.joints:
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) < 0:
            raise ValueError(f"config joint '{j}' is not in the Franka model")
    g = arm.gripper
    grip = GripperSpec(name=g.name, joints=FINGER_JOINTS, actuator="gripper", qpos_per_width=(0.5, 0.5),
                       ctrl_per_width=0.5, width_min_m=g.width_min_m, width_max_m=g.width_max_m,
                       speed_max_m_s=g.speed_max_m_s)
    return SceneSpec(model=model, arm_joints=tuple(arm.joints), arm_mj_joints=tuple(arm.joints),
                     arm_actuators=tuple(arm.joints), kp=np.array(KP), kd=np.array(KD),
                     grippers=(grip,), cameras={"scene": "scene", "wrist": "wrist"},
                     tcp_sites={arm.name: "tcp"}, home_q=np.asarray(arm.home_rad, float),
                     command_names=tuple(robot_cfg.command_names),
                     arm_of_joint={j: arm.name for j in arm.joints},
                     vel_max_rad_s=robot_cfg.limits.subset(arm.joints).vel_max_rad_s.copy())
