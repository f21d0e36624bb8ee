"""State/action normalization statistics (ROS-free), saved as ``normalization.json``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_action_expert.configuration import CheckpointError

STD_FLOOR = 1e-3  # a DoF that never moved (e.g. a gripper held shut) must not blow up to 1/0


def _vec(x, n: int, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32).reshape(-1)
    if a.shape != (n,):
        raise CheckpointError(f"normalization {what} needs {n} values, got {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        raise CheckpointError(f"normalization {what} must be finite")
    return a


@dataclass(frozen=True)
class NormStats:
    """Per-DoF mean/std of state and action (float32, DoF order = config.action_names)."""
    names: tuple[str, ...]
    state_mean: np.ndarray
    state_std: np.ndarray
    action_mean: np.ndarray
    action_std: np.ndarray

    def __post_init__(self):
        n = len(self.names)
        for k in ("state_mean", "state_std", "action_mean", "action_std"):
            object.__setattr__(self, k, _vec(getattr(self, k), n, k))
        for k in ("state_std", "action_std"):
            if np.any(getattr(self, k) <= 0):
                raise CheckpointError(f"normalization {k} must be > 0")

    @classmethod
    def identity(cls, names) -> "NormStats":
        n = len(names)
        z, o = np.zeros(n, np.float32), np.ones(n, np.float32)
        return cls(tuple(names), z, o, z, o)

    @classmethod
    def from_data(cls, names, states: np.ndarray, actions: np.ndarray) -> "NormStats":
        """Statistics of ``states`` [N, D] and ``actions`` [N, D].

        Raises:
            ValueError: empty or non-finite data, or wrong width.
        """
        s, a = np.asarray(states, np.float64), np.asarray(actions, np.float64)
        n = len(names)
        if s.ndim != 2 or a.ndim != 2 or s.shape[1] != n or a.shape[1] != n or not len(s) \
                or not len(a):
            raise ValueError(f"need non-empty [N, {n}] states and actions, got {s.shape}, {a.shape}")
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(a))):
            raise ValueError("states/actions contain NaN or inf")
        return cls(tuple(names), s.mean(0), np.maximum(s.std(0), STD_FLOOR),
                   a.mean(0), np.maximum(a.std(0), STD_FLOOR))

    def norm_state(self, x):
        return (x - self.state_mean) / self.state_std

    def norm_action(self, x):
        return (x - self.action_mean) / self.action_std

    def unnorm_action(self, x):
        return x * self.action_std + self.action_mean

    def to_dict(self) -> dict:
        return {"names": list(self.names),
                **{k: getattr(self, k).tolist()
                   for k in ("state_mean", "state_std", "action_mean", "action_std")}}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "NormStats":
        p = Path(path)
        if not p.is_file():
            raise CheckpointError(f"normalization statistics not found: {p}")
        try:
            d = json.loads(p.read_text())
            return cls(tuple(d["names"]), d["state_mean"], d["state_std"], d["action_mean"],
                       d["action_std"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{p}: malformed normalization file: {e}") from e
