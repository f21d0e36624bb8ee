"""Demonstration data for training the action expert (ROS-free).

Episodes are plain numpy arrays (``Episode``); ``load_episodes`` reads the project's LeRobot
v2.1-style datasets (``vla_common.dataset`` layout: ``meta/info.json``, ``data/chunk-*/
episode_*.parquet`` with ``observation.state``, ``action``, ``timestamp``). ``ChunkSampler``
draws training samples with latency augmentation: the latent input is computed from an
observation that is older than the current state by a random delay (deployment: 100-300 ms).
"""
from __future__ import annotations

import io
import json
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


def load_episodes(root: str | Path, load_images: bool = False, cameras=None) -> list[Episode]:
    """Read every episode of a LeRobot v2.1-style dataset directory.

    Raises:
        FileNotFoundError: no dataset at ``root``.
        ValueError: missing columns or malformed rows.
    """
    import pyarrow.parquet as pq
    root = Path(root)
    files = sorted(root.glob("data/chunk-*/episode_*.parquet"))
    if not files:
        raise FileNotFoundError(f"no episodes (data/chunk-*/episode_*.parquet) under {root}")
    tasks = _episode_tasks(root)
    out = []
    for f in files:
        tab = pq.read_table(f)
        cols = set(tab.column_names)
        for c in ("observation.state", "action", "timestamp"):
            if c not in cols:
                raise ValueError(f"{f}: missing column '{c}'")
        state = np.asarray(tab.column("observation.state").to_pylist(), np.float32)
        action = np.asarray(tab.column("action").to_pylist(), np.float32)
        ts = np.asarray(tab.column("timestamp").to_pylist(), np.float64)
        ep_idx = int(tab.column("episode_index")[0].as_py()) if "episode_index" in cols else len(out)
        images = {}
        if load_images:
            for c in sorted(cols):
                cam = c[len("observation.images."):] if c.startswith("observation.images.") else None
                if cam is None or (cameras and cam not in cameras):
                    continue
                idx, frames = [], []
                for i, v in enumerate(tab.column(c).to_pylist()):
                    if v:
                        idx.append(i)
                        frames.append(_decode_png(v))
                if frames:
                    images[cam] = (np.asarray(idx), np.stack(frames))
        out.append(Episode(state, action, ts, tasks.get(ep_idx, ""), images))
    return out


def _episode_tasks(root: Path) -> dict[int, str]:
    p = root / "meta" / "episodes.jsonl"
    tasks: dict[int, str] = {}
    if p.is_file():
        for line in p.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                t = d.get("tasks") or d.get("instruction") or ""
                tasks[int(d.get("episode_index", len(tasks)))] = t[0] if isinstance(t, list) and t else str(t)
    return tasks


def _decode_png(v) -> np.ndarray:
    from PIL import Image
    b = v["bytes"] if isinstance(v, dict) else v
    return np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))


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
            idx = np.searchsorted(ep.timestamp, row_t - 1e-6)
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
