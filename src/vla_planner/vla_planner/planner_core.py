"""The planner's cycle logic (ROS-free): instruction state, newest matched frames, one latent per
cycle, skip reasons and statistics. Time comes in as ``now_s`` (sim or wall)."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vla_common.config import find_config_dir
from vla_common.timing import RateMeter, RollingStats
from vla_planner.backbone import Backbone, CheckpointError, check_instruction
from vla_planner.frame_buffer import FrameBuffer


@dataclass(frozen=True)
class PlannerNodeConfig:
    """Planner parameters (every field is a ROS parameter of vla_planner)."""
    rate_hz: float = 8.0
    checkpoint_dir: str = ""          # empty: <repo>/models/<robot>/planner
    allow_random_init: bool = False   # missing checkpoint -> seeded random embedded default
    seed: int = 0
    latent_dim: int = 128
    device: str = ""                 # torch device; empty: the checkpoint's (cpu for the default)
    torch_threads: int = 1            # intra-op threads for inference (2-core machine)
    stamp_tolerance_s: float = 0.05   # max stamp spread of the camera images of one latent
    max_image_age_s: float = 1.0      # newer images needed than this, else skip
    skip_repeated_frames: bool = True  # no new latent from the same images and instruction
    max_instruction_chars: int = 2000
    heartbeat_period_s: float = 0.5
    # Synchronous baseline: the action expert runs System 2 inline (its `inline_planner`) and
    # publishes the latents; this node then only keeps the instruction topic and service up
    # and publishes no latents (no camera subscriptions, no inference).
    passive: bool = False

    def __post_init__(self):
        for name in ("rate_hz", "heartbeat_period_s"):
            v = getattr(self, name)
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {v}")
        for name in ("stamp_tolerance_s", "max_image_age_s"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        if self.latent_dim < 1 or self.torch_threads < 1 or self.max_instruction_chars < 1:
            raise ValueError("latent_dim, torch_threads and max_instruction_chars must be >= 1")

    @property
    def period_s(self) -> float:
        return 1.0 / self.rate_hz


def default_checkpoint_dir(robot: str, config_dir: str | None = None) -> Path:
    """``<repo>/models/<robot>/planner`` (next to the config directory)."""
    return find_config_dir(config_dir).parent / "models" / robot / "planner"


@dataclass(frozen=True)
class CycleResult:
    """Outcome of one planner cycle: a latent, or ``latent is None`` and a skip ``reason``."""
    latent: np.ndarray | None
    reason: str
    stamp_s: float = float("nan")
    instruction: str = ""
    instruction_id: int = 0
    compute_time_s: float = float("nan")


class PlannerCore:
    """Holds the newest frames and the instruction; ``step(now_s)`` makes at most one latent.

    Thread-safe: images and instructions may arrive while ``step`` runs inference.
    A backbone with ``proprio_dim`` > 0 also gets the newest joint state in ``state_names``
    order (the robot's command names: arm joints, then gripper width, per arm).

    Raises:
        CheckpointError: the backbone's proprio_dim does not match ``state_names``.
    """

    def __init__(self, backbone: Backbone, cfg: PlannerNodeConfig, state_names: Sequence[str] = ()):
        self.backbone = backbone
        self.cfg = cfg
        self.state_names = tuple(state_names)
        pdim = int(getattr(backbone, "proprio_dim", 0))
        if pdim and pdim != len(self.state_names):
            raise CheckpointError(f"model proprio_dim {pdim} != {len(self.state_names)} robot state "
                                  f"values {list(self.state_names)}")
        self.needs_proprio = pdim > 0
        self._proprio: np.ndarray | None = None
        self.frames = FrameBuffer(backbone.cameras, cfg.stamp_tolerance_s, cfg.max_image_age_s)
        self._lock = threading.Lock()
        self._instruction: str | None = None
        self._instruction_id = 0
        self._last_used: tuple[float, int] | None = None
        self.rate = RateMeter(window=200)
        self.compute_s = RollingStats(window=200)
        self.n_latents = 0
        self.n_skips = 0
        self.last_reason = "not started"

    def set_instruction(self, text: str) -> tuple[bool, str, int]:
        """Set the instruction for the next cycle; the id increments only when the text changes.

        Returns:
            (accepted, message, current instruction id). Empty/too long text, or text the model
            cannot act on (``Backbone.interpret_instruction``: e.g. close to no instruction its
            checkpoint was trained on), is rejected and the previous instruction stays. When the
            model is given a trained phrasing instead, the message names it.
        """
        try:
            t = check_instruction(text, self.cfg.max_instruction_chars)
            matched, similarity = self.backbone.interpret_instruction(t)
        except ValueError as e:
            with self._lock:
                return False, f"rejected: {e}", self._instruction_id
        how = "" if matched == t else f" (understood as {matched!r}, similarity {similarity:.2f})"
        with self._lock:
            if t != self._instruction:
                self._instruction = t
                self._instruction_id += 1
                return True, "changed" + how, self._instruction_id
            return True, "unchanged" + how, self._instruction_id

    @property
    def instruction(self) -> tuple[str | None, int]:
        with self._lock:
            return self._instruction, self._instruction_id

    def add_image(self, camera: str, stamp_s: float, image: np.ndarray) -> None:
        """Raises KeyError (unknown camera) or ValueError (bad stamp)."""
        self.frames.add(camera, stamp_s, image)

    def set_joint_state(self, names: Sequence[str], positions: Sequence[float]) -> None:
        """Store the newest proprio vector from a joint state (extra names are ignored).

        Raises:
            ValueError: lengths differ, a needed name is missing, or a value is not finite.
        """
        if len(names) != len(positions):
            raise ValueError(f"joint state has {len(names)} names but {len(positions)} positions")
        idx = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.state_names if n not in idx]
        if missing:
            raise ValueError(f"joint state lacks {missing}")
        p = np.array([positions[idx[n]] for n in self.state_names], dtype=np.float32)
        if not np.all(np.isfinite(p)):
            raise ValueError("joint state has NaN or inf positions")
        with self._lock:
            self._proprio = p

    def step(self, now_s: float) -> CycleResult:
        """One cycle at time ``now_s``: newest matched images + instruction -> latent or skip."""
        text, iid = self.instruction
        if text is None:
            return self._skip("no instruction yet")
        fs, reason = self.frames.newest_set(now_s)
        if fs is None:
            return self._skip(reason)
        if self.cfg.skip_repeated_frames and self._last_used == (fs.stamp_s, iid):
            return self._skip("no new images since the last latent")
        with self._lock:
            proprio = self._proprio
        if self.needs_proprio and proprio is None:
            return self._skip("no joint state yet (model uses proprio)")
        try:
            out = self.backbone.infer(fs.images, text, proprio if self.needs_proprio else None)
        except ValueError as e:
            return self._skip(f"inference rejected the input: {e}")
        self._last_used = (fs.stamp_s, iid)
        self.rate.tick(now_s)
        self.compute_s.add(out.compute_time_s)
        self.n_latents += 1
        self.last_reason = "ok"
        return CycleResult(out.latent, "ok", fs.stamp_s, text, iid, out.compute_time_s)

    def _skip(self, reason: str) -> CycleResult:
        self.n_skips += 1
        self.last_reason = reason
        return CycleResult(None, reason)

    def stats(self) -> dict[str, object]:
        c = self.compute_s.summary()
        text, iid = self.instruction
        return {"model_id": self.backbone.model_id, "rate_hz": round(self.rate.rate_hz(), 3),
                "target_rate_hz": self.cfg.rate_hz,
                "compute_p50_ms": round(c["p50"] * 1e3, 2), "compute_p99_ms": round(c["p99"] * 1e3, 2),
                "latents": self.n_latents, "skips": self.n_skips, "last_reason": self.last_reason,
                "instruction_id": iid, "instruction": text or ""}
