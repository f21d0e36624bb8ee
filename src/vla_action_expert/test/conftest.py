"""Shared fixtures: small configs so the package's tests stay cheap on 2 CPU cores."""
import numpy as np
import pytest

from vla_action_expert.configuration import ActionExpertConfig
from vla_action_expert.normalization import NormStats
from vla_action_expert.policy import ActionExpertPolicy

FRANKA_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("gripper",)


@pytest.fixture
def small_config():
    return ActionExpertConfig(robot="franka", action_names=FRANKA_NAMES, latent_dim=16, horizon=8,
                              hidden_dim=32, num_blocks=2, time_embed_dim=16, seed=3)


@pytest.fixture
def small_policy(small_config):
    rng = np.random.default_rng(0)
    norm = NormStats(FRANKA_NAMES, rng.normal(size=8), rng.uniform(0.5, 2, 8),
                     rng.normal(size=8), rng.uniform(0.5, 2, 8))
    return ActionExpertPolicy.random_init(small_config, norm, seed=1)


def obs_for(cfg, seed=0):
    rng = np.random.default_rng(seed)
    return {"latent": rng.normal(size=cfg.latent_dim), "latent_age_s": 0.15,
            "state": rng.normal(size=cfg.state_dim)}


@pytest.fixture
def make_obs():
    return obs_for
