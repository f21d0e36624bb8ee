"""Demonstration data for training the action expert (ROS-free).

Episodes are plain numpy arrays (``Episode``); ``load_episodes`` reads the project's LeRobot
v2.1-style datasets through ``vla_common.dataset.DatasetReader``. ``ChunkSampler``
draws training samples with latency augmentation: the latent input is computed from an
observation that is older than the current state by a random delay (deployment: 100-300 ms).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Episode:
    """One demonstration. ``images[cam]`` = (frame indices [N], uint8 [N, h, w, 3])."""
    state: np.ndarray          # [T, D]
    action: np.ndarray         # [T, D]
    timestamp: np.ndarray      # [T] seconds
    task: str = ""
    images: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self):
        self.state = np.asarray(self.state, np.float32)
        self.action = np.asarray(self.action, np.float32)
        self.timestamp = np.asarray(self.timestamp, np.float64)
        T = len(self.timestamp)
        if T < 1 or self.state.shape[0] != T or self.action.shape[0] != T \
                or self.state.ndim != 2 or self.action.ndim != 2:
            raise ValueError(f"episode arrays disagree: state {self.state.shape}, action "
                             f"{self.action.shape}, timestamp {self.timestamp.shape}")
        if not (np.all(np.isfinite(self.state)) and np.all(np.isfinite(self.action))
                and np.all(np.isfinite(self.timestamp))):
            raise ValueError("episode contains NaN or inf")
        if T > 1 and np.any(np.diff(self.timestamp) <= 0):
            raise ValueError("episode timestamps must increase")

    def __len__(self) -> int:
        return len(self.timestamp)


def load_episodes(root: str | Path, command_names=None, load_images: bool = False,
                  cameras=None, successful_only: bool = True) -> list[Episode]:
    """Read a dataset written by ``vla_common.dataset.DatasetWriter``.

    Args:
        root: dataset directory.
        command_names: if given, the dataset's state/action names must equal them.
        load_images: decode PNG images (only needed by image-based latent functions or a
            wrist-image model); ``cameras`` limits which.
        successful_only: skip failed demonstrations.
    Raises:
        vla_common.dataset.DatasetError (a ValueError): missing/malformed dataset, name mismatch,
            or no episode left.
    """
    from vla_common.dataset import DatasetError, DatasetReader, check_names
    reader = DatasetReader(root)
    if command_names is not None:
        check_names(reader.info, command_names)
    out = []
    for i, meta in enumerate(reader.episodes):
        if successful_only and not meta.get("success", False):
            continue
        ep = reader.episode(i, decode_images=load_images)
        images = {c: v for c, v in ep.images.items() if not cameras or c in cameras} \
            if load_images else {}
        out.append(Episode(ep.state, ep.action, ep.timestamp.astype(np.float64), ep.instruction,
                           images))
    if not out:
        raise DatasetError(f"{root}: no {'successful ' if successful_only else ''}episodes")
    return out


@dataclass(frozen=True)
class SamplerConfig:
    horizon: int = 16
    step_period_s: float = 0.02
    delay_min_s: float = 0.1      # latency augmentation range (deployment S2 delays)
    delay_max_s: float = 0.3

    def __post_init__(self):
        if not (0 <= self.delay_min_s <= self.delay_max_s):
            raise ValueError("need 0 <= delay_min_s <= delay_max_s")


class ChunkSampler:
    """Draws (current state, action chunk, delayed observation, latent age) training samples."""

    def __init__(self, episodes: list[Episode], config: SamplerConfig):
        if not episodes:
            raise ValueError("no episodes")
        self.episodes = episodes
        self.config = config
        self._lengths = np.array([len(e) for e in episodes])
        self._p = self._lengths / self._lengths.sum()
        # rows are matched to the frame at or after their time, with a quarter-frame tolerance
        # (dataset timestamps are float32)
        self._tol = [0.25 * (float(np.median(np.diff(e.timestamp))) if len(e) > 1
                             else config.step_period_s) for e in episodes]

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict:
        """A batch as numpy: ``state`` [B, D], ``actions`` [B, H, D], ``mask`` [B, H],
        ``latent_age_s`` [B], ``delayed_state`` [B, D], ``delayed_images`` {cam: [B, h, w, 3]}
        (when the episodes have images), ``task`` list[str].

        Chunk rows are read at the chunk's own times (``step_period_s`` apart, nearest frame at
        or after); rows past the episode end repeat the last action with mask 0.
        """
        cfg = self.config
        ep_ids = rng.choice(len(self.episodes), size=batch_size, p=self._p)
        B, H = batch_size, cfg.horizon
        D = self.episodes[0].action.shape[1]
        state = np.zeros((B, D), np.float32)
        actions = np.zeros((B, H, D), np.float32)
        mask = np.zeros((B, H), np.float32)
        age = np.zeros(B, np.float32)
        dstate = np.zeros((B, D), np.float32)
        dimgs: dict[str, list] = {}
        tasks = []
        for b, e_i in enumerate(ep_ids):
            ep = self.episodes[e_i]
            T = len(ep)
            i = int(rng.integers(T))
            t0 = ep.timestamp[i]
            row_t = t0 + cfg.step_period_s * np.arange(H)
            idx = np.searchsorted(ep.timestamp, row_t - self._tol[e_i])
            valid = idx < T
            actions[b] = ep.action[np.minimum(idx, T - 1)]
            mask[b] = valid
            state[b] = ep.state[i]
            delay = rng.uniform(cfg.delay_min_s, cfg.delay_max_s)
            t_obs = t0 - delay
            if ep.images:  # the latent is computed from the newest image at or before t_obs
                cams = sorted(ep.images)
                fidx = ep.images[cams[0]][0]
                k = max(int(np.searchsorted(ep.timestamp[fidx], t_obs + 1e-9)) - 1, 0)
                j = int(fidx[k])
                for cam in cams:
                    dimgs.setdefault(cam, []).append(ep.images[cam][1][min(k, len(ep.images[cam][1]) - 1)])
            else:
                j = max(int(np.searchsorted(ep.timestamp, t_obs + 1e-9)) - 1, 0)
            j = min(j, i)
            age[b] = t0 - ep.timestamp[j]
            dstate[b] = ep.state[j]
            tasks.append(ep.task)
        out = {"state": state, "actions": actions, "mask": mask, "latent_age_s": age,
               "delayed_state": dstate, "task": tasks}
        if dimgs:
            out["delayed_images"] = {c: np.stack(v) for c, v in dimgs.items()}
        return out


def synthetic_episodes(n: int, action_dim: int, seed: int = 0, T: int = 150,
                       fps: float = 50.0) -> list[Episode]:
    """Smooth random reaching episodes (sum of sines around a random offset); for tests/demos.

    Action = the state 2 frames ahead (a position-target policy)."""
    rng = np.random.default_rng(seed)
    eps = []
    t = np.arange(T + 2) / fps
    for k in range(n):
        off = rng.uniform(-0.5, 0.5, action_dim)
        amp = rng.uniform(0.1, 0.4, action_dim)
        freq = rng.uniform(0.3, 1.0, action_dim)
        ph = rng.uniform(0, 2 * np.pi, action_dim)
        q = off + amp * np.sin(2 * np.pi * freq * t[:, None] + ph)
        eps.append(Episode(q[:T], q[2:T + 2], t[:T], task=f"synthetic {k}"))
    return eps
