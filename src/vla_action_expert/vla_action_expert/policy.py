"""The small LeRobot-style policy interface and checkpoint save/load (ROS-free).

Checkpoint directory: ``config.json`` (ActionExpertConfig), ``model.safetensors`` (state dict),
``normalization.json`` (NormStats). Inputs and outputs are numpy in robot units.
"""
from __future__ import annotations

import collections
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from vla_action_expert.configuration import ActionExpertConfig, CheckpointError
from vla_action_expert.modeling import FlowMatchingActionExpert
from vla_action_expert.normalization import NormStats
from vla_planner.image_utils import resize_frames_uint8

CONFIG_FILE, WEIGHTS_FILE, NORM_FILE = "config.json", "model.safetensors", "normalization.json"


def chunk_noise_seed(base_seed: int, index: int) -> int:
    """Seed of the noise of the ``index``-th chunk of a run: replayable, independent per chunk."""
    return (int(base_seed) * 1_000_003 + int(index)) % (2 ** 63 - 1)


class ActionExpertPolicy:
    """Flow-matching action expert with numpy in/out.

    Observation dict keys: ``latent`` [latent_dim], ``latent_age_s`` (float), ``state``
    [state_dim] (joint positions + gripper widths, ``config.action_names`` order), optional
    ``wrist_image`` ([S, S, C] uint8 or float in [0, 1]) when the config uses one.
    """

    def __init__(self, config: ActionExpertConfig, model: FlowMatchingActionExpert,
                 norm: NormStats):
        if tuple(norm.names) != config.action_names:
            raise CheckpointError(f"normalization names {norm.names} != config action_names "
                                  f"{config.action_names}")
        self.config = config
        self.model = model.eval()
        self.norm = norm
        self._norm_t = {k: torch.from_numpy(getattr(norm, k).copy())
                        for k in ("state_mean", "state_std", "action_mean", "action_std")}
        self.num_inference_steps = config.num_inference_steps
        self.seed = config.seed
        self.reset()

    # --- construction / persistence -----------------------------------------------------------
    @classmethod
    def random_init(cls, config: ActionExpertConfig, norm: NormStats | None = None,
                    seed: int | None = None) -> "ActionExpertPolicy":
        torch.manual_seed(config.seed if seed is None else seed)
        return cls(config, FlowMatchingActionExpert(config),
                   norm or NormStats.identity(config.action_names))

    def save_pretrained(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.config.save(d / CONFIG_FILE)
        self.norm.save(d / NORM_FILE)
        sd = {k: v.detach().contiguous().clone() for k, v in self.model.state_dict().items()}
        save_file(sd, str(d / WEIGHTS_FILE), metadata={"model_type": self.config.model_type})
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, expected_names=None,
                        expected_latent_dim: int | None = None) -> "ActionExpertPolicy":
        """Load a checkpoint and check it against the robot and the latent size.

        Raises:
            CheckpointError: missing files, malformed content, or a mismatch with
                ``expected_names`` (action DoF order) / ``expected_latent_dim``.
        """
        d = Path(directory)
        if not d.is_dir():
            raise CheckpointError(f"action expert checkpoint directory not found: {d}")
        cfg = ActionExpertConfig.load(d / CONFIG_FILE)
        check_compatible(cfg, expected_names, expected_latent_dim, where=str(d))
        norm = NormStats.load(d / NORM_FILE)
        wpath = d / WEIGHTS_FILE
        if not wpath.is_file():
            raise CheckpointError(f"weights not found: {wpath}")
        model = FlowMatchingActionExpert(cfg)
        try:
            sd = load_file(str(wpath))
        except Exception as e:  # noqa: BLE001 - safetensors raises several types
            raise CheckpointError(f"{wpath}: unreadable safetensors: {e}") from e
        expected = model.state_dict()
        missing = sorted(set(expected) - set(sd))
        extra = sorted(set(sd) - set(expected))
        bad = sorted(k for k in set(sd) & set(expected) if sd[k].shape != expected[k].shape)
        if missing or extra or bad:
            raise CheckpointError(f"{wpath} does not match config.json: missing {missing[:5]}, "
                                  f"unexpected {extra[:5]}, wrong shape {bad[:5]}")
        model.load_state_dict(sd)
        return cls(cfg, model, norm)

    # --- the policy interface -----------------------------------------------------------------
    def reset(self) -> None:
        """Forget queued actions; the next chunk uses noise index 0 again (replay from start)."""
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._chunk_index = 0

    def _tensor_inputs(self, obs: Mapping) -> tuple:
        cfg = self.config
        lat = np.asarray(obs["latent"], dtype=np.float32).reshape(-1)
        if lat.shape != (cfg.latent_dim,):
            raise ValueError(f"latent has {lat.shape[0]} values, model expects {cfg.latent_dim}")
        st = np.asarray(obs["state"], dtype=np.float32).reshape(-1)
        if st.shape != (cfg.state_dim,):
            raise ValueError(f"state has {st.shape[0]} values, model expects {cfg.state_dim}")
        age = float(obs.get("latent_age_s", 0.0))
        if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(st)) and np.isfinite(age)):
            raise ValueError("observation contains NaN or inf")
        img = None
        if cfg.wrist_image_size:
            img = wrist_image_tensor(obs.get("wrist_image"), cfg)[None]
        st_n = (torch.from_numpy(st) - self._norm_t["state_mean"]) / self._norm_t["state_std"]
        return (torch.from_numpy(lat)[None], torch.tensor([age], dtype=torch.float32),
                st_n[None], img)

    def predict_action_chunk(self, obs: Mapping, seed: int | None = None,
                             guide: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """One chunk [H, D] (float64, robot units) for one observation.

        Args:
            obs: observation dict (see class doc).
            seed: noise seed; None = derived from the policy seed and the chunk counter, so a run
                replays exactly after ``reset()``.
            guide: optional (target [H, D] in robot units, weight [H] in [0, 1]) for real-time
                chunking: rows with weight 1 come out equal to the target.
        Raises:
            ValueError: wrong shapes or non-finite inputs; a non-finite output (never returned).
        """
        cfg = self.config
        if seed is None:
            seed = chunk_noise_seed(self.seed, self._chunk_index)
        self._chunk_index += 1
        lat, age, st_n, img = self._tensor_inputs(obs)
        g = torch.Generator().manual_seed(int(seed))
        noise = torch.randn((1, cfg.horizon, cfg.action_dim), generator=g)
        gt = gw = None
        if guide is not None:
            tgt = np.asarray(guide[0], dtype=np.float32)
            w = np.asarray(guide[1], dtype=np.float32).reshape(-1)
            if tgt.shape != (cfg.horizon, cfg.action_dim) or w.shape != (cfg.horizon,):
                raise ValueError("guide must be ([H, D] target, [H] weight)")
            if not (np.all(np.isfinite(tgt)) and np.all(np.isfinite(w))):
                raise ValueError("guide contains NaN or inf")
            gt = ((torch.from_numpy(tgt) - self._norm_t["action_mean"])
                  / self._norm_t["action_std"])[None]
            gw = torch.from_numpy(np.clip(w, 0.0, 1.0))[None]
        with torch.inference_mode():
            cond = self.model.encode(lat, age, st_n, img)
            x = self.model.sample(cond, noise, self.num_inference_steps, gt, gw)
            out = x[0] * self._norm_t["action_std"] + self._norm_t["action_mean"]
        chunk = out.numpy().astype(np.float64)
        if not np.all(np.isfinite(chunk)):
            raise ValueError("model produced a non-finite chunk")
        if guide is not None:  # the frozen rows are the old chunk's, to the last bit
            full = np.asarray(guide[1]) >= 1.0
            chunk[full] = np.asarray(guide[0], dtype=np.float64)[full]
        return chunk

    def select_action(self, obs: Mapping) -> np.ndarray:
        """Next action [D]: pops the queue, predicting a new chunk when it is empty."""
        if not self._queue:
            self._queue.extend(self.predict_action_chunk(obs))
        return self._queue.popleft()


def check_compatible(cfg: ActionExpertConfig, expected_names=None,
                     expected_latent_dim: int | None = None, where: str = "") -> None:
    """Raise CheckpointError when the config does not fit the robot's DoFs or the latent size."""
    if expected_names is not None and tuple(expected_names) != cfg.action_names:
        raise CheckpointError(
            f"{where}: checkpoint action_names {list(cfg.action_names)} do not match the robot's "
            f"command names {list(expected_names)} (robot '{cfg.robot}' checkpoint?)")
    if expected_latent_dim is not None and int(expected_latent_dim) != cfg.latent_dim:
        raise CheckpointError(f"{where}: checkpoint latent_dim {cfg.latent_dim} != configured "
                              f"latent_dim {expected_latent_dim}")


def wrist_image_tensor(img, cfg: ActionExpertConfig) -> torch.Tensor:
    """[H, W, C] uint8 (or float in [0, 1]) image -> [C, S, S] float tensor in [0, 1].

    Resized by ``vla_planner.image_utils.resize_frames_uint8``, the resize that prepares the
    cached training frames, so the expert sees at run time the pixels it was trained on.

    Raises:
        ValueError: missing image, wrong channels, non-finite values.
    """
    if img is None:
        raise ValueError("model needs a wrist image")
    a = _frame_uint8(img, cfg.wrist_image_channels)
    a = resize_frames_uint8(a[None], cfg.wrist_image_size)[0]
    return torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / 255.0)


def stack_wrist_frames(frames, size_px: int) -> np.ndarray:
    """Several wrist cameras' [H, W, 3] frames -> one [S, S, 3 * n] uint8 image: each resized
    like the cached training frames (``resize_frames_uint8``; cameras may differ in size), stacked
    along channels in camera order, as the trainer stacks them.

    Raises:
        ValueError: a frame that is not [H, W, 3] or holds NaN / inf.
    """
    return np.concatenate([resize_frames_uint8(_frame_uint8(f, 3)[None], size_px)[0]
                           for f in frames], axis=2)


def _frame_uint8(img, channels: int) -> np.ndarray:
    """[H, W, channels] uint8 or float in [0, 1] -> uint8 (floats rounded to a camera's 8 bits).

    Raises:
        ValueError: wrong shape or channels, non-finite values.
    """
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != channels or min(a.shape[:2]) < 1:
        raise ValueError(f"wrist image must be [H, W, {channels}], got {a.shape}")
    if a.dtype != np.uint8:
        if not np.all(np.isfinite(a)):
            raise ValueError("wrist image contains NaN or inf")
        a = (np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return a
