"""Animated GIF from RGB frames (ROS-free; Pillow)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0,
              scale: int = 2) -> Path:
    """Write ``frames`` (HxWx3 uint8, same size) as a looping GIF at ``fps``.

    Args:
        frames: RGB frames.
        path: output file (parent directories are created).
        fps: playback rate (> 0).
        scale: integer upscaling (nearest) so 128 px camera images are watchable.
    Returns:
        The path written.
    Raises:
        ValueError: no frames, bad fps/scale, or frames of different shapes / not uint8 RGB.
    """
    from PIL import Image
    if not frames:
        raise ValueError("no frames to write")
    if not (np.isfinite(fps) and fps > 0) or int(scale) < 1:
        raise ValueError("fps must be > 0 and scale >= 1")
    shape = frames[0].shape
    for f in frames:
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3 or f.shape != shape:
            raise ValueError(f"frames must be HxWx3 uint8 of one shape, got {f.dtype} {f.shape}")
    ims = [Image.fromarray(np.repeat(np.repeat(f, scale, 0), scale, 1)) for f in frames]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ims[0].save(p, save_all=True, append_images=ims[1:], duration=int(round(1000 / fps)), loop=0)
    return p
