"""Time-stamped target buffer with interpolation (ROS-free).

System 1 streams targets at 50-200 Hz, each stamped with the time it is meant for; the controller
runs at 500-1000 Hz and samples this buffer at its own ``now_s``:

- between two samples: linear interpolation (unit quaternions in ``quat_slices``: slerp);
- before the first sample: the first sample (an ``anchor`` at the push time keeps the motion
  continuous from the current command);
- after the last sample: the last sample (hold).

``rate`` gives the active segment's slope, the target velocity to feed forward: a finite
difference of successive samples of a stream that arrives in steps spikes instead.

A new sample supersedes every buffered sample stamped at or after it (a new chunk replans the
future), so replanning never creates a time-reversed segment.
"""
from __future__ import annotations

from collections import deque

import numpy as np


def slerp(q0: np.ndarray, q1: np.ndarray, a: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions (shortest arc).

    Args:
        q0, q1: quaternions (4,) (any convention, same for both). a: fraction in [0, 1].
    Returns:
        unit quaternion (4,).
    """
    q0 = q0 / np.linalg.norm(q0)
    q1 = q1 / np.linalg.norm(q1)
    d = float(np.dot(q0, q1))
    if d < 0.0:
        q1, d = -q1, -d
    if d > 0.9995:  # nearly parallel: nlerp is exact enough and avoids 0/0
        q = q0 + a * (q1 - q0)
        return q / np.linalg.norm(q)
    th = np.arccos(min(d, 1.0))
    return (np.sin((1 - a) * th) * q0 + np.sin(a * th) * q1) / np.sin(th)


class TargetBuffer:
    """Samples (t_s, value) sorted by time, interpolated at any ``now_s``.

    Args:
        dim: length of every value.
        max_len: samples kept (oldest dropped first).
        quat_slices: slices of the value holding unit quaternions (slerped, not lerped).
    """

    def __init__(self, dim: int, max_len: int = 64, quat_slices: tuple[slice, ...] = ()):
        if dim < 1 or max_len < 2:
            raise ValueError("TargetBuffer needs dim >= 1 and max_len >= 2")
        self.dim = dim
        self.quat_slices = tuple(quat_slices)
        self._t: deque[float] = deque(maxlen=max_len)
        self._v: deque[np.ndarray] = deque(maxlen=max_len)

    def __len__(self) -> int:
        return len(self._t)

    def clear(self) -> None:
        self._t.clear()
        self._v.clear()

    def push(self, t_s: float, value: np.ndarray, now_s: float,
             anchor: np.ndarray | None = None) -> None:
        """Add a sample meant for ``t_s``.

        Args:
            t_s: time the value is meant for (s).
            value: (dim,) finite.
            now_s: current time; samples older than the one active at now_s are dropped.
            anchor: value at ``now_s`` (the current command) inserted first when the buffer
                holds nothing at or after now_s and ``t_s > now_s``, so motion starts from it.
        Raises:
            ValueError: wrong shape or non-finite value/time.
        """
        v = np.array(value, dtype=float)
        if v.shape != (self.dim,) or not np.all(np.isfinite(v)):
            raise ValueError(f"TargetBuffer.push: need finite ({self.dim},), got {v.shape}")
        if not (np.isfinite(t_s) and np.isfinite(now_s)):
            raise ValueError("TargetBuffer.push: times must be finite")
        while self._t and self._t[-1] >= t_s:
            self._t.pop()
            self._v.pop()
        self._prune(now_s)
        if anchor is not None and t_s > now_s and (not self._t or self._t[-1] < now_s):
            a = np.array(anchor, dtype=float)
            if a.shape == (self.dim,) and np.all(np.isfinite(a)):
                self._t.append(float(now_s))
                self._v.append(a)
        self._t.append(float(t_s))
        self._v.append(v)

    def _prune(self, now_s: float) -> None:
        # keep the last sample at or before now_s (start of the active segment)
        while len(self._t) >= 2 and self._t[1] <= now_s:
            self._t.popleft()
            self._v.popleft()

    def sample(self, now_s: float) -> np.ndarray | None:
        """Value at ``now_s`` (None when empty)."""
        if not self._t:
            return None
        self._prune(now_s)
        if now_s <= self._t[0] or len(self._t) == 1:
            return self._v[0].copy()
        t0, t1 = self._t[0], self._t[1]
        v0, v1 = self._v[0], self._v[1]
        a = (now_s - t0) / (t1 - t0)
        out = v0 + a * (v1 - v0)
        for s in self.quat_slices:
            out[s] = slerp(v0[s], v1[s], a)
        return out

    def rate(self, now_s: float) -> np.ndarray:
        """Rate of change of the value at ``now_s``: the slope of the segment holding it, zero
        before the first sample, after the last and when empty. (Quaternion slices: the
        component-wise chord slope, which callers of ee targets do not use.)"""
        self._prune(now_s)
        if len(self._t) < 2 or now_s < self._t[0]:
            return np.zeros(self.dim)
        return (self._v[1] - self._v[0]) / (self._t[1] - self._t[0])

    def last(self) -> np.ndarray | None:
        """The newest sample (None when empty)."""
        return self._v[-1].copy() if self._v else None
