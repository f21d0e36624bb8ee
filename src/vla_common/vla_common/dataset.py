"""Demonstration datasets in a LeRobot v2.1-style layout (ROS-free).

Layout of a dataset directory::

    meta/info.json        robot, fps, feature names/shapes, image cadence, counts
    meta/episodes.jsonl   one line per episode: index, length, instruction, task, seed, success
    meta/tasks.jsonl      one line per distinct instruction: task_index, task (the text)
    data/chunk-000/episode_000000.parquet

Each parquet row is one frame at ``fps`` (default 50 Hz): ``observation.state`` (joint
positions incl. gripper widths, in ``state_names`` = command_names order), ``action`` (absolute
joint position targets + gripper width, ``action_names`` order), ``timestamp`` (s from episode
start), ``frame_index``, ``episode_index``, ``index`` (global), ``task_index``, and per camera
``observation.images.<cam>``: PNG bytes every ``image_every_k``-th frame (10 Hz at 50 Hz with
k=5), null on the other frames.

Writing is append-safe: ``DatasetWriter`` can reopen a dataset and add episodes; metadata is
rewritten atomically after each episode, so a crash loses at most the episode in progress.
Bad input (wrong length, NaN/inf, bad image shape) raises ``ValueError``; nothing is dropped
silently.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

CODEBASE_VERSION = "v2.1"
CHUNK_SIZE = 1000
DATA_PATH = "data/chunk-{chunk:03d}/episode_{episode:06d}.parquet"


class DatasetError(ValueError):
    """A dataset is missing, malformed, or does not match what the caller expects."""


@dataclass(frozen=True)
class DatasetInfo:
    """Dataset-wide metadata (``meta/info.json``)."""
    robot: str
    fps: float
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]
    cameras: tuple[str, ...] = ()
    image_every_k: int = 5
    image_shapes: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)  # cam -> (H, W, 3)
    total_episodes: int = 0
    total_frames: int = 0
    codebase_version: str = CODEBASE_VERSION

    def __post_init__(self):
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise DatasetError(f"fps must be > 0, got {self.fps}")
        if self.image_every_k < 1:
            raise DatasetError(f"image_every_k must be >= 1, got {self.image_every_k}")
        if not self.state_names or not self.action_names:
            raise DatasetError("state_names and action_names must be non-empty")

    @property
    def image_fps(self) -> float:
        return self.fps / self.image_every_k

    def to_json(self) -> dict:
        d = asdict(self)
        d["image_fps"] = self.image_fps
        d["chunks_size"] = CHUNK_SIZE
        d["data_path"] = DATA_PATH
        d["features"] = {
            "observation.state": {"dtype": "float32", "shape": [len(self.state_names)],
                                  "names": list(self.state_names)},
            "action": {"dtype": "float32", "shape": [len(self.action_names)],
                       "names": list(self.action_names)},
            "timestamp": {"dtype": "float32", "shape": [1]},
            **{f"observation.images.{c}": {"dtype": "png", "shape": list(self.image_shapes.get(c, ())),
                                           "every_k_frames": self.image_every_k} for c in self.cameras},
        }
        return d

    @classmethod
    def from_json(cls, d: Mapping) -> "DatasetInfo":
        try:
            return cls(robot=str(d["robot"]), fps=float(d["fps"]),
                       state_names=tuple(d["state_names"]), action_names=tuple(d["action_names"]),
                       cameras=tuple(d.get("cameras", ())), image_every_k=int(d.get("image_every_k", 5)),
                       image_shapes={k: tuple(v) for k, v in d.get("image_shapes", {}).items()},
                       total_episodes=int(d.get("total_episodes", 0)),
                       total_frames=int(d.get("total_frames", 0)),
                       codebase_version=str(d.get("codebase_version", CODEBASE_VERSION)))
        except (KeyError, TypeError) as e:
            raise DatasetError(f"info.json is missing or has a bad field: {e!r}") from e


@dataclass
class Episode:
    """One episode, loaded into memory.

    ``images[cam]`` holds (frame_indices, frames): the frame indices that carry an image and the
    decoded RGB uint8 arrays (N, H, W, 3).
    """
    index: int
    instruction: str
    task: str
    seed: int | None
    success: bool
    state: np.ndarray       # (T, len(state_names)) float32
    action: np.ndarray      # (T, len(action_names)) float32
    timestamp: np.ndarray   # (T,) float32
    images: dict[str, tuple[np.ndarray, np.ndarray]]
    extra: dict

    def __len__(self) -> int:
        return int(self.state.shape[0])


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 image."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 from PNG bytes."""
    from PIL import Image
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}:{n}: invalid JSON: {e}") from e
    return out


class DatasetWriter:
    """Writes episodes frame by frame.

    Args:
        root: dataset directory (created if missing).
        info: robot, fps, names, cameras, image cadence (counts are managed here).
        append: if the directory already holds a dataset, add episodes to it (its info must
            match in robot, fps, names and cameras); otherwise an existing dataset is an error.
    Raises:
        DatasetError: existing dataset without ``append``, or a mismatching one.
    """

    def __init__(self, root: str | os.PathLike, info: DatasetInfo, append: bool = False):
        self.root = Path(root)
        self._info_path = self.root / "meta" / "info.json"
        self.episodes: list[dict] = []
        self.tasks: dict[str, int] = {}
        if self._info_path.is_file():
            if not append:
                raise DatasetError(f"{self.root} already holds a dataset (use append)")
            old = DatasetInfo.from_json(json.loads(self._info_path.read_text()))
            for f in ("robot", "fps", "state_names", "action_names", "cameras", "image_every_k"):
                if getattr(old, f) != getattr(info, f):
                    raise DatasetError(f"cannot append: {f} is {getattr(old, f)!r} in {self.root}, "
                                       f"got {getattr(info, f)!r}")
            info = old
            self.episodes = _read_jsonl(self.root / "meta" / "episodes.jsonl")
            self.tasks = {t["task"]: int(t["task_index"]) for t in _read_jsonl(self.root / "meta" / "tasks.jsonl")}
        self.info = info
        (self.root / "meta").mkdir(parents=True, exist_ok=True)
        self._frames: list[dict] | None = None
        self._meta: dict = {}

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    def start_episode(self, instruction: str, task: str = "", seed: int | None = None,
                      extra: Mapping | None = None) -> int:
        """Begin a new episode; returns its index.

        Raises:
            DatasetError: an episode is already open, or the instruction is empty.
        """
        if self._frames is not None:
            raise DatasetError("end_episode() or discard_episode() the open episode first")
        if not instruction.strip():
            raise DatasetError("an episode needs a non-empty instruction")
        self._frames = []
        self._meta = {"instruction": instruction, "task": task, "seed": seed, "extra": dict(extra or {})}
        return self.num_episodes

    def add_frame(self, state, action, timestamp_s: float,
                  images: Mapping[str, np.ndarray] | None = None) -> None:
        """Append one frame. Images must be given exactly on every ``image_every_k``-th frame
        (frame 0, k, 2k, ...) for every camera, and never on the others.

        Raises:
            DatasetError: no open episode, wrong lengths, non-finite values, non-increasing
                timestamp, missing/extra/malformed images.
        """
        if self._frames is None:
            raise DatasetError("start_episode() first")
        s = np.asarray(state, dtype=np.float64).reshape(-1)
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if s.shape[0] != len(self.info.state_names):
            raise DatasetError(f"state has {s.shape[0]} values, expected {len(self.info.state_names)}")
        if a.shape[0] != len(self.info.action_names):
            raise DatasetError(f"action has {a.shape[0]} values, expected {len(self.info.action_names)}")
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(a)) and np.isfinite(timestamp_s)):
            raise DatasetError("state, action and timestamp must be finite")
        if self._frames and timestamp_s <= self._frames[-1]["timestamp"]:
            raise DatasetError(f"timestamp {timestamp_s} is not after {self._frames[-1]['timestamp']}")
        k = len(self._frames)
        want = k % self.info.image_every_k == 0
        images = dict(images or {})
        row = {"observation.state": s.astype(np.float32).tolist(),
               "action": a.astype(np.float32).tolist(), "timestamp": float(timestamp_s)}
        if self.info.cameras:
            if want and set(images) != set(self.info.cameras):
                raise DatasetError(f"frame {k} needs images for {list(self.info.cameras)}, got {sorted(images)}")
            if not want and images:
                raise DatasetError(f"frame {k} is not an image frame (every {self.info.image_every_k})")
        elif images:
            raise DatasetError("this dataset has no cameras")
        for cam in self.info.cameras:
            img = images.get(cam)
            if img is None:
                row[f"observation.images.{cam}"] = None
                continue
            img = np.asarray(img)
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise DatasetError(f"image {cam} must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
            shape = self.info.image_shapes.get(cam)
            if shape is None:
                self.info = DatasetInfo(**{**asdict(self.info),
                                           "image_shapes": {**self.info.image_shapes, cam: tuple(img.shape)}})
            elif tuple(shape) != img.shape:
                raise DatasetError(f"image {cam} has shape {img.shape}, dataset has {tuple(shape)}")
            row[f"observation.images.{cam}"] = encode_png(img)
        self._frames.append(row)

    def discard_episode(self) -> None:
        self._frames = None
        self._meta = {}

    def end_episode(self, success: bool) -> int:
        """Write the open episode; returns its index.

        Raises:
            DatasetError: no open episode or it has no frames.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq
        if self._frames is None:
            raise DatasetError("no open episode")
        if not self._frames:
            raise DatasetError("an episode needs at least one frame")
        ep = self.num_episodes
        instr = self._meta["instruction"]
        if instr not in self.tasks:
            self.tasks[instr] = len(self.tasks)
        n = len(self._frames)
        base = self.info.total_frames
        cols: dict[str, list] = {k: [f[k] for f in self._frames] for k in self._frames[0]}
        d = len(self.info.state_names)
        da = len(self.info.action_names)
        arrays = {
            "observation.state": pa.array(cols.pop("observation.state"), type=pa.list_(pa.float32(), d)),
            "action": pa.array(cols.pop("action"), type=pa.list_(pa.float32(), da)),
            "timestamp": pa.array(cols.pop("timestamp"), type=pa.float32()),
            "frame_index": pa.array(range(n), type=pa.int64()),
            "episode_index": pa.array([ep] * n, type=pa.int64()),
            "index": pa.array(range(base, base + n), type=pa.int64()),
            "task_index": pa.array([self.tasks[instr]] * n, type=pa.int64()),
        }
        for k, v in cols.items():
            arrays[k] = pa.array(v, type=pa.binary())
        path = self.root / DATA_PATH.format(chunk=ep // CHUNK_SIZE, episode=ep)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(pa.table(arrays), tmp)
        os.replace(tmp, path)
        self.episodes.append({"episode_index": ep, "tasks": [instr], "length": n,
                              "task": self._meta["task"], "seed": self._meta["seed"],
                              "success": bool(success), **({"extra": self._meta["extra"]} if self._meta["extra"] else {})})
        self.info = DatasetInfo(**{**asdict(self.info), "total_episodes": ep + 1,
                                   "total_frames": base + n})
        self._write_meta()
        self._frames = None
        self._meta = {}
        return ep

    def _write_meta(self) -> None:
        meta = self.root / "meta"
        _atomic_write(meta / "episodes.jsonl", "".join(json.dumps(e) + "\n" for e in self.episodes))
        _atomic_write(meta / "tasks.jsonl", "".join(json.dumps({"task_index": i, "task": t}) + "\n"
                                                    for t, i in sorted(self.tasks.items(), key=lambda x: x[1])))
        _atomic_write(self._info_path, json.dumps(self.info.to_json(), indent=2))

    def close(self) -> None:
        """Write metadata (an open episode is discarded)."""
        self._frames = None
        self._write_meta()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DatasetReader:
    """Reads a dataset written by ``DatasetWriter``.

    Raises:
        DatasetError: missing directory/info, or a malformed file.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        info_path = self.root / "meta" / "info.json"
        if not info_path.is_file():
            raise DatasetError(f"not a dataset (no {info_path})")
        try:
            self.info = DatasetInfo.from_json(json.loads(info_path.read_text()))
        except json.JSONDecodeError as e:
            raise DatasetError(f"{info_path}: invalid JSON: {e}") from e
        self.episodes = _read_jsonl(self.root / "meta" / "episodes.jsonl")
        self.tasks = {int(t["task_index"]): t["task"] for t in _read_jsonl(self.root / "meta" / "tasks.jsonl")}

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    def __len__(self) -> int:
        return self.num_episodes

    def episode_path(self, index: int) -> Path:
        return self.root / DATA_PATH.format(chunk=index // CHUNK_SIZE, episode=index)

    def episode(self, index: int, decode_images: bool = True) -> Episode:
        """Load episode ``index``.

        Args:
            decode_images: decode PNGs to arrays (False: ``images[cam][1]`` holds PNG bytes).
        Raises:
            IndexError: no such episode. DatasetError: missing or malformed parquet.
        """
        import pyarrow.parquet as pq
        if not 0 <= index < self.num_episodes:
            raise IndexError(f"episode {index} out of range (0..{self.num_episodes - 1})")
        meta = self.episodes[index]
        path = self.episode_path(index)
        if not path.is_file():
            raise DatasetError(f"episode file missing: {path}")
        try:
            t = pq.read_table(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for corrupt files
            raise DatasetError(f"cannot read {path}: {e}") from e
        state = np.asarray(t.column("observation.state").to_pylist(), dtype=np.float32)
        action = np.asarray(t.column("action").to_pylist(), dtype=np.float32)
        ts = t.column("timestamp").to_numpy().astype(np.float32)
        if state.shape != (len(ts), len(self.info.state_names)) or action.shape != (len(ts), len(self.info.action_names)):
            raise DatasetError(f"{path}: state/action shapes {state.shape}/{action.shape} do not match info")
        images = {}
        for cam in self.info.cameras:
            col = t.column(f"observation.images.{cam}").to_pylist()
            idx = np.array([i for i, v in enumerate(col) if v is not None], dtype=np.int64)
            raw = [col[i] for i in idx]
            if decode_images:
                frames = np.stack([decode_png(b) for b in raw]) if raw else np.zeros((0, 0, 0, 3), np.uint8)
            else:
                frames = np.array(raw, dtype=object)
            images[cam] = (idx, frames)
        return Episode(index=index, instruction=meta["tasks"][0], task=meta.get("task", ""),
                       seed=meta.get("seed"), success=bool(meta.get("success", False)), state=state,
                       action=action, timestamp=ts, images=images, extra=meta.get("extra", {}))

    def __iter__(self) -> Iterator[Episode]:
        for i in range(self.num_episodes):
            yield self.episode(i)

    def arrays(self, successful_only: bool = True) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """(state, action, instruction) per episode without images (fast path for training)."""
        out = []
        for i, m in enumerate(self.episodes):
            if successful_only and not m.get("success", False):
                continue
            ep = self.episode(i, decode_images=False)
            out.append((ep.state, ep.action, ep.instruction))
        return out


def check_names(info: DatasetInfo, command_names: Sequence[str]) -> None:
    """Raise DatasetError unless the dataset's state and action names equal ``command_names``."""
    if tuple(info.state_names) != tuple(command_names) or tuple(info.action_names) != tuple(command_names):
        raise DatasetError(f"dataset names {list(info.action_names)} do not match the robot's "
                           f"command names {list(command_names)}")
