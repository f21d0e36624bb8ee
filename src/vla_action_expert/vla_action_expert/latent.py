"""Pluggable latent functions for training (ROS-free).

The trainer gets the System 2 latent from any ``torch.nn.Module`` called as
``latent_fn(obs) -> [B, latent_dim]`` where ``obs`` holds the *delayed* observation:
``observation.state`` [B, D] float tensor, ``observation.images.<cam>`` [B, 3, h, w] float in
[0, 1] (when the dataset has images) and ``task`` (list of instruction strings). The end-to-end
training issue passes the planner's differentiable System 2 module here; when its parameters
require grad, the trainer optimizes them together with the action expert.
"""
from __future__ import annotations

import torch
from torch import nn


class StateProjectionLatent(nn.Module):
    """A small fixed latent function: tanh of a seeded random projection of the delayed state.

    Stands in for System 2 in tests and before a planner exists; it carries where the robot was
    (with the deployment delay), like a real latent would carry scene and task information.
    """

    def __init__(self, state_dim: int, latent_dim: int, seed: int = 0, scale: float = 1.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("proj", torch.randn(state_dim, latent_dim, generator=g) * scale)
        self.register_buffer("bias", torch.rand(latent_dim, generator=g) * 6.283)

    def forward(self, obs: dict) -> torch.Tensor:
        return torch.sin(obs["observation.state"] @ self.proj + self.bias)


class SyntheticLatent(nn.Module):
    """Latent = a fixed random vector per task string (no observation dependence)."""

    def __init__(self, latent_dim: int, seed: int = 0):
        super().__init__()
        self.latent_dim, self.seed = latent_dim, seed

    def forward(self, obs: dict) -> torch.Tensor:
        rows = []
        for task in obs["task"]:
            g = torch.Generator().manual_seed((hash_str(task) + self.seed) % (2 ** 31))
            rows.append(torch.randn(self.latent_dim, generator=g))
        return torch.stack(rows)


def hash_str(s: str) -> int:
    """Process-independent string hash (Python's hash() is salted per process)."""
    h = 2166136261
    for ch in s.encode():
        h = ((h ^ ch) * 16777619) % (2 ** 32)
    return h
