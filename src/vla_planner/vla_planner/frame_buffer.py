"""Newest stamp-matched image per camera (ROS-free; time is passed in).

The planner must condition on one observation: the newest frame of every camera, taken at
(nearly) the same time. A short history per camera lets a slightly late camera still be
matched; old frames are never queued up for processing.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class FrameSet:
    """One matched observation: an image per camera; ``stamp_s`` = newest image stamp used."""
    stamp_s: float
    images: Mapping[str, np.ndarray]
    stamps_s: Mapping[str, float]


class FrameBuffer:
    """Keeps the last ``history`` frames per camera and hands out the newest matched set.

    Args:
        cameras: camera names that must all be present in a set.
        stamp_tolerance_s: max spread of stamps within one set.
        max_age_s: a set older than this (now - stamp) is stale and not returned.
        history: frames kept per camera (small: only for matching, never a work queue).

    Raises:
        ValueError: no cameras, duplicate names, negative or non-finite tolerances, history < 1.
    """

    def __init__(self, cameras: Sequence[str], stamp_tolerance_s: float, max_age_s: float,
                 history: int = 4):
        if not cameras or len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras must be non-empty and unique, got {list(cameras)}")
        for name, v in (("stamp_tolerance_s", stamp_tolerance_s), ("max_age_s", max_age_s)):
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        if history < 1:
            raise ValueError("history must be >= 1")
        self.cameras = tuple(cameras)
        self.stamp_tolerance_s = float(stamp_tolerance_s)
        self.max_age_s = float(max_age_s)
        self._frames = {c: deque(maxlen=history) for c in self.cameras}
        self._lock = threading.Lock()

    def add(self, camera: str, stamp_s: float, image: np.ndarray) -> None:
        """Store a frame. A frame older than that camera's newest is dropped (out of order).

        Raises:
            KeyError: unknown camera.
            ValueError: non-finite or negative stamp.
        """
        if camera not in self._frames:
            raise KeyError(f"unknown camera '{camera}'; expected one of {self.cameras}")
        if not math.isfinite(stamp_s) or stamp_s < 0:
            raise ValueError(f"image stamp must be finite and >= 0, got {stamp_s}")
        with self._lock:
            q = self._frames[camera]
            if q and stamp_s < q[-1][0]:
                return
            if q and stamp_s == q[-1][0]:
                q.pop()  # same stamp again: keep the latest copy only
            q.append((float(stamp_s), image))

    def clear(self) -> None:
        with self._lock:
            for q in self._frames.values():
                q.clear()

    def newest_set(self, now_s: float) -> tuple[FrameSet | None, str]:
        """The newest set whose stamps lie within the tolerance, or (None, reason).

        A clock that jumped backwards (sim reset: now far before the newest stamp) clears
        the buffer, since those frames belong to another timeline.
        """
        with self._lock:
            missing = [c for c, q in self._frames.items() if not q]
            if missing:
                return None, f"no image yet from camera(s) {missing}"
            newest = max(q[-1][0] for q in self._frames.values())
            if now_s + max(self.max_age_s, 1.0) < newest:
                for q in self._frames.values():
                    q.clear()
                return None, f"clock went back ({now_s:.3f} s < image stamp {newest:.3f} s): cleared"
            anchors = sorted((s for q in self._frames.values() for s, _ in q), reverse=True)
            for anchor in anchors:
                chosen: dict[str, tuple[float, np.ndarray]] = {}
                for cam, q in self._frames.items():
                    older = [f for f in q if f[0] <= anchor]  # the anchor is the set's newest
                    if not older or anchor - older[-1][0] > self.stamp_tolerance_s:
                        break
                    chosen[cam] = older[-1]
                else:
                    stamp = max(s for s, _ in chosen.values())
                    if now_s - stamp > self.max_age_s:
                        return None, (f"newest matched images are stale (age {now_s - stamp:.3f} s "
                                      f"> max_image_age_s {self.max_age_s})")
                    return FrameSet(stamp, {c: f[1] for c, f in chosen.items()},
                                    {c: f[0] for c, f in chosen.items()}), "ok"
            return None, (f"no set of images within stamp tolerance {self.stamp_tolerance_s} s "
                          f"(newest per camera: "
                          f"{ {c: round(q[-1][0], 3) for c, q in self._frames.items()} })")
