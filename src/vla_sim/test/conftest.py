import os

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

import pytest  # noqa: E402

from vla_common.config import load_robot_config  # noqa: E402


@pytest.fixture(scope="module")
def franka_env():
    from vla_sim.factory import make_env
    env = make_env(load_robot_config("franka", "sim"))
    yield env
    env.close()


@pytest.fixture(scope="module")
def aloha_env():
    from vla_sim.factory import make_env
    env = make_env(load_robot_config("aloha", "sim"))
    yield env
    env.close()
