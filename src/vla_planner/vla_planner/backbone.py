"""The System 2 backbone interface (ROS-free): camera images + instruction (+ proprio) -> latent.

Concrete backbones: ``embedded.EmbeddedBackbone`` (the default, no download) and
``hf_backbone.HFBackbone`` (a transformers image-text-to-text model from a local directory).
``load_backbone`` picks one from a checkpoint directory's ``config.json`` ``model_type``.
"""
from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from vla_common.config import ConfigError

log = logging.getLogger("vla_planner")


class CheckpointError(ConfigError):
    """A planner checkpoint directory is missing, unreadable or does not fit the robot."""


@dataclass(frozen=True)
class BackboneOutput:
    """One latent (float32, shape (latent_dim,)) and the wall time the model took to make it."""
    latent: np.ndarray
    compute_time_s: float


class Backbone(ABC):
    """Images of named cameras + instruction text (+ optional proprio) -> latent vector."""

    latent_dim: int
    cameras: tuple[str, ...]
    model_id: str
    proprio_dim: int = 0   # > 0: infer() needs a proprio vector of this size

    @abstractmethod
    def infer(self, images: Mapping[str, np.ndarray], instruction: str,
              proprio: np.ndarray | None = None) -> BackboneOutput:
        """Compute one latent.

        Args:
            images: camera name -> HxWx3 uint8 RGB; must hold every name in ``cameras``.
            instruction: non-empty language instruction.
            proprio: optional robot state vector (used only if the model was built for it).

        Raises:
            ValueError: a missing camera, a bad image, an empty instruction, bad proprio.
        """

    def interpret_instruction(self, text: str) -> tuple[str, float]:
        """The instruction text the model is given for ``text`` and their similarity.

        Default: ``text`` itself. A checkpoint trained on a closed set of phrasings may map an
        unseen one to the nearest it knows (``vla_planner.instruction_match``).

        Raises:
            ValueError: the model cannot act on ``text`` (e.g. close to no trained instruction).
        """
        return text, 1.0


def check_instruction(text: str, max_chars: int = 2000) -> str:
    """Strip and validate an instruction.

    Raises:
        ValueError: not a string, empty after stripping, or longer than ``max_chars``.
    """
    if not isinstance(text, str):
        raise ValueError(f"instruction must be a string, got {type(text).__name__}")
    t = text.strip()
    if not t:
        raise ValueError("instruction is empty")
    if len(t) > max_chars:
        raise ValueError(f"instruction has {len(t)} characters, more than {max_chars}")
    return t


def check_images(images: Mapping[str, np.ndarray], cameras: Sequence[str]) -> list[np.ndarray]:
    """The images of ``cameras`` in that order.

    Raises:
        ValueError: a camera is missing.
    """
    missing = [c for c in cameras if c not in images]
    if missing:
        raise ValueError(f"missing image(s) for camera(s) {missing}; model expects {list(cameras)}")
    return [images[c] for c in cameras]


def check_proprio(proprio: np.ndarray | None, dim: int) -> np.ndarray | None:
    """Validate proprio for a model built with ``dim`` proprio inputs (0 = none used).

    Raises:
        ValueError: wrong size or non-finite values.
    """
    if dim == 0:
        return None
    if proprio is None:
        raise ValueError(f"model needs a proprio vector of size {dim}")
    p = np.asarray(proprio, dtype=np.float32).reshape(-1)
    if p.shape != (dim,):
        raise ValueError(f"proprio must have {dim} values, got {p.size}")
    if not np.all(np.isfinite(p)):
        raise ValueError("proprio contains NaN or inf")
    return p


def read_checkpoint_config(checkpoint_dir: str | os.PathLike) -> dict:
    """Read ``<dir>/config.json``.

    Raises:
        CheckpointError: the directory or file is missing or not a JSON object with model_type.
    """
    d = Path(checkpoint_dir)
    if not d.is_dir():
        raise CheckpointError(f"planner checkpoint directory not found: {d}")
    p = d / "config.json"
    if not p.is_file():
        raise CheckpointError(f"planner checkpoint {d} has no config.json")
    try:
        raw = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {p}: {e}") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("model_type"), str):
        raise CheckpointError(f"{p} must be a JSON object with a string 'model_type'")
    return raw


def check_fits_robot(model_cameras: Sequence[str], latent_dim: int, robot_cameras: Sequence[str],
                     expected_latent_dim: int | None, where: str) -> None:
    """Raise CheckpointError unless the model's cameras and latent size fit the robot/config."""
    if sorted(model_cameras) != sorted(robot_cameras):
        raise CheckpointError(f"{where}: model cameras {list(model_cameras)} do not match the "
                              f"robot's cameras {list(robot_cameras)}")
    if expected_latent_dim is not None and int(latent_dim) != int(expected_latent_dim):
        raise CheckpointError(f"{where}: latent_dim {latent_dim} != configured latent_dim "
                              f"{expected_latent_dim}")


def load_backbone(checkpoint_dir: str | os.PathLike, robot_cameras: Sequence[str], *,
                  latent_dim: int | None = None, robot: str = "", device: str = "",
                  allow_random_init: bool = False, seed: int = 0) -> Backbone:
    """Load the backbone a checkpoint directory describes.

    Args:
        checkpoint_dir: directory with config.json (+ model.safetensors).
        robot_cameras: the robot's camera names; the model must use exactly these.
        latent_dim: expected latent size (None: accept the checkpoint's).
        robot: robot name, used for a random-init default.
        device: torch device override ('' keeps the checkpoint's / cpu).
        allow_random_init: if the directory does not exist, build a seeded random-init
            embedded default (loud warning) instead of failing.
        seed: seed for that random init.

    Raises:
        CheckpointError: missing/incompatible checkpoint (clear message).
    """
    from vla_planner import embedded, hf_backbone  # noqa: PLC0415 - heavy imports on demand

    d = Path(checkpoint_dir)
    if not d.exists():
        if not allow_random_init:
            raise CheckpointError(f"planner checkpoint directory not found: {d} "
                                  "(set allow_random_init:=true to run with random weights)")
        log.warning("PLANNER CHECKPOINT %s NOT FOUND: USING A RANDOM-INIT EMBEDDED BACKBONE "
                    "(seed %d); its latents carry no learned meaning", d, seed)
        cfg = embedded.EmbeddedPlannerConfig(
            latent_dim=latent_dim or embedded.EmbeddedPlannerConfig.latent_dim,
            cameras=tuple(robot_cameras), robot=robot)
        return embedded.EmbeddedBackbone.random_init(cfg, seed=seed, device=device or "cpu")
    raw = read_checkpoint_config(d)
    mt = raw["model_type"]
    if mt == embedded.MODEL_TYPE:
        bb: Backbone = embedded.EmbeddedBackbone.from_pretrained(d, device=device or "cpu")
    elif mt == hf_backbone.MODEL_TYPE:
        bb = hf_backbone.HFBackbone.from_pretrained(d, device=device or None)
    else:
        raise CheckpointError(f"{d}/config.json: unknown model_type '{mt}'; known: "
                              f"'{embedded.MODEL_TYPE}', '{hf_backbone.MODEL_TYPE}'")
    check_fits_robot(bb.cameras, bb.latent_dim, robot_cameras, latent_dim, str(d))
    return bb
