"""The render process draws exactly what the in-process renderer draws, after a reset's
randomization too; a worker that cannot build its scene fails with the reason."""
import numpy as np
import pytest

from vla_common.config import load_robot_config
from vla_sim.render_worker import RenderWorker, model_state


def test_worker_images_equal_in_process_images(franka_env):
    env = franka_env
    w = RenderWorker("franka", "sim")
    try:
        for seed in (1, 2):  # the second reset changes colours, camera jitter and lights
            env.reset("pick_cube", seed)
            env.step(10)
            reqs = [("scene", 40, 30), ("wrist", 24, 24)]
            imgs = w.render(env.data.qpos.copy(), env.model_version, model_state(env.model), reqs)
            for (cam, width, height), img in zip(reqs, imgs):
                np.testing.assert_array_equal(img, env.render(cam, width, height))
    finally:
        w.close()


def test_worker_with_missing_model_file_fails_with_reason(tmp_path):
    with pytest.raises(RuntimeError, match="not found"):
        RenderWorker("franka", "sim", model_path=str(tmp_path / "nope.urdf"))
