"""Decode, validate and resize camera images given as raw buffers or numpy arrays (ROS-free).

Every backbone takes HxWx3 uint8 RGB arrays; this module turns a sensor image's fields
(encoding, height, width, step, data) into one, or says clearly why it cannot.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class ImageError(ValueError):
    """An image has an unsupported encoding, inconsistent size or bad content."""


# encoding -> (channels, channel order to get RGB)
_ENCODINGS: dict[str, tuple[int, tuple[int, ...]]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
    "8UC3": (3, (0, 1, 2)),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)
MIN_SIDE_PX = 8
MAX_SIDE_PX = 4096


def decode_image(data: bytes | bytearray | memoryview | np.ndarray, height: int, width: int,
                 encoding: str, step: int = 0) -> np.ndarray:
    """Turn a raw row-major image buffer into an HxWx3 uint8 RGB array.

    Args:
        data: the pixel bytes (rows of ``step`` bytes, padding at row ends allowed).
        height, width: image size in pixels.
        encoding: one of ``SUPPORTED_ENCODINGS`` (sensor_msgs/Image names).
        step: bytes per row; 0 means tightly packed.

    Returns:
        A new contiguous (height, width, 3) uint8 array.

    Raises:
        ImageError: unknown encoding, size outside [MIN_SIDE_PX, MAX_SIDE_PX], or a buffer whose
            length does not match height * step.
    """
    if encoding not in _ENCODINGS:
        raise ImageError(f"unsupported image encoding '{encoding}'; supported: {SUPPORTED_ENCODINGS}")
    h, w = int(height), int(width)
    if not (MIN_SIDE_PX <= h <= MAX_SIDE_PX and MIN_SIDE_PX <= w <= MAX_SIDE_PX):
        raise ImageError(f"image size {h}x{w} outside [{MIN_SIDE_PX}, {MAX_SIDE_PX}] pixels")
    ch, order = _ENCODINGS[encoding]
    row_bytes = w * ch
    step = int(step) or row_bytes
    if step < row_bytes:
        raise ImageError(f"step {step} < width*channels {row_bytes} for {encoding}")
    buf = np.frombuffer(memoryview(data).cast("B") if not isinstance(data, np.ndarray) else
                        np.ascontiguousarray(data).view(np.uint8).reshape(-1), dtype=np.uint8)
    if buf.size != h * step:
        raise ImageError(f"image data has {buf.size} bytes, expected height*step = {h * step} "
                         f"({h}x{w} {encoding}, step {step})")
    rows = buf.reshape(h, step)[:, :row_bytes].reshape(h, w, ch)
    return np.ascontiguousarray(rows[:, :, list(order)])


def validate_rgb(image: np.ndarray) -> np.ndarray:
    """Check that ``image`` is an HxWx3 uint8 array of a sane size.

    Returns:
        The same array (contiguous).

    Raises:
        ImageError: wrong type, dtype, shape or size.
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"image dtype must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"image must be HxWx3, got shape {image.shape}")
    h, w = image.shape[:2]
    if not (MIN_SIDE_PX <= h <= MAX_SIDE_PX and MIN_SIDE_PX <= w <= MAX_SIDE_PX):
        raise ImageError(f"image size {h}x{w} outside [{MIN_SIDE_PX}, {MAX_SIDE_PX}] pixels")
    return np.ascontiguousarray(image)


def images_to_tensor(images: list[np.ndarray], size_px: int) -> torch.Tensor:
    """Stack RGB uint8 images into one float tensor resized to ``size_px`` square.

    Args:
        images: HxWx3 uint8 arrays (sizes may differ).
        size_px: output side length (bilinear with antialiasing when shrinking).

    Returns:
        (N, 3, size_px, size_px) float32 tensor with values in [0, 1].

    Raises:
        ImageError: an image fails ``validate_rgb``, or ``images`` is empty.
    """
    if not images:
        raise ImageError("no images given")
    out = []
    for im in images:
        t = torch.from_numpy(validate_rgb(im)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        if t.shape[-2:] != (size_px, size_px):
            t = F.interpolate(t, size=(size_px, size_px), mode="bilinear", align_corners=False,
                              antialias=True).clamp_(0.0, 1.0)
        out.append(t)
    return torch.cat(out, 0)


def resize_frames_uint8(frames: np.ndarray, size_px: int) -> np.ndarray:
    """[N, H, W, C] uint8 -> [N, S, S, C] uint8: ``images_to_tensor``'s resize (bilinear,
    antialiased), batched and rounded half up to 8 bits. The one resize of cached training frames
    and of System 1's wrist frames at run time, so both see the same pixels.

    Args:
        frames: uint8 images of one size.
        size_px: output side length.
    Returns:
        The resized frames (an empty batch stays empty).
    """
    frames = np.asarray(frames)
    if len(frames) == 0:
        return np.zeros((0, size_px, size_px, frames.shape[-1] if frames.ndim == 4 else 3), np.uint8)
    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    if t.shape[-2:] != (size_px, size_px):
        t = F.interpolate(t, size=(size_px, size_px), mode="bilinear", align_corners=False,
                          antialias=True).clamp_(0.0, 1.0)
    return (t.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
