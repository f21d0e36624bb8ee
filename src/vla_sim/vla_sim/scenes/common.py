"""Helpers shared by the scene builders (ROS-free)."""
from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np


class ModelFileError(ValueError):
    """A robot model file is missing or cannot be compiled by MuJoCo."""


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a readable file.

    Raises:
        ModelFileError: naming ``what`` and the package that ships it.
    """
    if not path.is_file():
        raise ModelFileError(f"{what} not found at {path}")
    return path


def lookat_xyaxes(pos, target, up=(0.0, 0.0, 1.0)) -> str:
    """MJCF ``xyaxes`` of a camera at ``pos`` looking at ``target`` (MuJoCo cameras look along -z).

    Args:
        pos, target: 3-vectors in the parent frame.
        up: world up hint (must not be parallel to the view direction).
    Returns:
        Six numbers as a string: camera x axis then y axis.
    """
    f = np.asarray(target, float) - np.asarray(pos, float)
    f /= np.linalg.norm(f)
    x = np.cross(f, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(x, f)
    return " ".join(f"{v:.6f}" for v in (*x, *y))


# Named colours used for task objects (RGB in 0..1); names appear in instructions.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.12, 0.30, 0.85),
    "yellow": (0.92, 0.82, 0.10),
    "purple": (0.55, 0.20, 0.70),
    "orange": (0.95, 0.50, 0.05),
}
