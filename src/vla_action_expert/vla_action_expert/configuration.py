"""Frozen configuration of the flow-matching action expert (ROS-free).

The config travels with every checkpoint as ``config.json``; loading checks it against the robot
(action names) and the System 2 latent size so a mismatch fails loudly at start-up.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

MODEL_TYPE = "vla_flow_matching_action_expert"
TIME_SAMPLINGS = ("uniform", "beta", "logit_normal")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not match the robot / latent it is used with."""


@dataclass(frozen=True)
class ActionExpertConfig:
    """Architecture, horizon and flow settings of one action expert.

    ``action_names`` is the action (and state) DoF order, ``RobotConfig.command_names`` by default.
    The state input uses the same names (joint positions + gripper widths).
    """
    model_type: str = MODEL_TYPE
    robot: str = "franka"
    action_names: tuple[str, ...] = ()
    latent_dim: int = 128
    horizon: int = 16                 # H rows per chunk
    step_period_s: float = 0.02       # time between rows
    hidden_dim: int = 256
    num_blocks: int = 3               # residual FiLM blocks of the velocity net
    time_embed_dim: int = 64
    wrist_image_size: int = 0         # 0 = no wrist image input; else square side in pixels
    wrist_image_channels: int = 3     # 3 per wrist camera: several are stacked along channels
    # cameras the wrist input was trained on, in channel order; empty (checkpoints before Dec 5):
    # one camera, the action expert node's ``wrist_camera``
    wrist_cameras: tuple[str, ...] = ()
    num_inference_steps: int = 5      # K Euler steps at inference
    time_sampling: str = "beta"       # flow time t ~ schedule during training (see docs)
    time_beta_a: float = 1.0          # Beta(a, b) on t (t=0 noise, t=1 data)
    time_beta_b: float = 1.5
    latent_age_scale_s: float = 0.3   # age input is age / scale (deployment delays ~0.1-0.3 s)
    seed: int = 0

    def __post_init__(self):
        if self.model_type != MODEL_TYPE:
            raise CheckpointError(f"model_type '{self.model_type}' is not '{MODEL_TYPE}'")
        object.__setattr__(self, "action_names", tuple(str(n) for n in self.action_names))
        if not self.action_names:
            raise CheckpointError("action_names must not be empty")
        if len(set(self.action_names)) != len(self.action_names):
            raise CheckpointError(f"duplicate action_names: {self.action_names}")
        for k in ("latent_dim", "horizon", "hidden_dim", "num_blocks", "time_embed_dim",
                  "num_inference_steps"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise CheckpointError(f"{k} must be an int >= 1, got {v!r}")
        if self.time_embed_dim % 2:
            raise CheckpointError("time_embed_dim must be even")
        if not (self.step_period_s > 0 and self.latent_age_scale_s > 0):
            raise CheckpointError("step_period_s and latent_age_scale_s must be > 0")
        if self.wrist_image_size < 0 or (0 < self.wrist_image_size < 8):
            raise CheckpointError("wrist_image_size must be 0 (off) or >= 8")
        object.__setattr__(self, "wrist_cameras", tuple(str(c) for c in self.wrist_cameras))
        if self.wrist_cameras and (len(set(self.wrist_cameras)) != len(self.wrist_cameras)
                                   or self.wrist_image_channels != 3 * len(self.wrist_cameras)):
            raise CheckpointError(f"wrist_cameras {list(self.wrist_cameras)} need distinct names and "
                                  f"wrist_image_channels = 3 per camera, got {self.wrist_image_channels}")
        if self.time_sampling not in TIME_SAMPLINGS:
            raise CheckpointError(f"time_sampling must be one of {TIME_SAMPLINGS}")
        if not (self.time_beta_a > 0 and self.time_beta_b > 0):
            raise CheckpointError("time_beta_a/b must be > 0")

    @property
    def action_dim(self) -> int:
        return len(self.action_names)

    @property
    def state_dim(self) -> int:
        return len(self.action_names)

    def wrist_camera_names(self, legacy_camera: str = "wrist") -> tuple[str, ...]:
        """The cameras System 1 reads, in channel order (none without a wrist input); a
        checkpoint that does not name them reads ``legacy_camera`` (the node's ``wrist_camera``)."""
        if not self.wrist_image_size:
            return ()
        return self.wrist_cameras or (legacy_camera,)

    @property
    def chunk_duration_s(self) -> float:
        return self.horizon * self.step_period_s

    def replace(self, **kw) -> "ActionExpertConfig":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["action_names"] = list(self.action_names)
        d["wrist_cameras"] = list(self.wrist_cameras)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ActionExpertConfig":
        """Build from a dict; unknown keys are an error (they mean a different code version).

        Raises:
            CheckpointError: unknown keys or invalid values.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(f"unknown config keys {unknown}")
        kw = dict(d)
        for k in ("action_names", "wrist_cameras"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ActionExpertConfig":
        p = Path(path)
        if not p.is_file():
            raise CheckpointError(f"config not found: {p}")
        try:
            return cls.from_dict(json.loads(p.read_text()))
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{p}: invalid JSON: {e}") from e
        except TypeError as e:
            raise CheckpointError(f"{p}: {e}") from e


def default_config(robot: str, action_names: tuple[str, ...], **kw) -> ActionExpertConfig:
    """The default (deployment-sized) config for ``robot``: sized for p99 <= 10 ms on 2 CPU cores."""
    return ActionExpertConfig(robot=robot, action_names=tuple(action_names), **kw)
