"""Shared fixtures: robot configs, kinematics, and MuJoCo models built for the checks."""
from __future__ import annotations

import re

import mujoco
import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_controller.kinematics import franka_urdf_path, load_kinematics


def panda_urdf_for_mujoco(fuse_static: bool = False) -> str:
    """example-robot-data panda.urdf with absolute mesh paths and .stl instead of .dae."""
    urdf = franka_urdf_path()
    root = urdf.parents[1]
    text = urdf.read_text()
    text = text.replace("package://example-robot-data/robots/panda_description", str(root))
    text = re.sub(r"meshes/visual/(\w+)\.dae", r"meshes/collision/\1.stl", text)
    compiler = (f'<mujoco><compiler fusestatic="{str(fuse_static).lower()}" '
                'discardvisual="true" strippath="false"/></mujoco>')
    return re.sub(r"(<robot[^>]*>)", r"\1" + compiler, text, count=1)


def panda_motor_model(timestep_s: float = 0.001) -> mujoco.MjModel:
    """Panda from the URDF, 1 kHz, contacts off, motor (torque) actuators on the 7 arm joints
    (ctrl range = the torque limits) and stiff position actuators holding the fingers."""
    spec = mujoco.MjSpec.from_string(panda_urdf_for_mujoco())
    spec.option.timestep = timestep_s
    spec.option.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT
    for i in range(1, 8):
        a = spec.add_actuator()
        a.name = f"motor{i}"
        a.target = f"panda_joint{i}"
        a.trntype = mujoco.mjtTrn.mjTRN_JOINT
        a.set_to_motor()
        lim = 87.0 if i <= 4 else 12.0
        a.ctrllimited = True
        a.ctrlrange = [-lim, lim]
    for f in ("panda_finger_joint1", "panda_finger_joint2"):
        a = spec.add_actuator()
        a.target = f
        a.trntype = mujoco.mjtTrn.mjTRN_JOINT
        a.set_to_position(kp=200.0, kv=5.0)
    return spec.compile()


@pytest.fixture(scope="session")
def panda_mujoco():
    """Builder of the Panda MuJoCo models: ``panda_mujoco(motors=True)``."""
    def build(motors: bool = True) -> mujoco.MjModel:
        if motors:
            return panda_motor_model()
        return mujoco.MjModel.from_xml_string(panda_urdf_for_mujoco())
    return build


@pytest.fixture(scope="session")
def franka_cfg():
    return load_robot_config("franka", "sim_effort")


@pytest.fixture(scope="session")
def aloha_cfg():
    return load_robot_config("aloha", "sim")


@pytest.fixture(scope="session")
def franka_kin(franka_cfg):
    return load_kinematics(franka_cfg)


@pytest.fixture(scope="session")
def aloha_kin(aloha_cfg):
    return load_kinematics(aloha_cfg)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
