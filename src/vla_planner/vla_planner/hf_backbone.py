"""transformers image-text-to-text models (PaliGemma, Idefics3/SmolVLM, ...) as System 2 backbones.

Checkpoint directory:
  config.json         ``HFBackboneConfig`` (model_type "hf_vlm")
  model.safetensors   the learned projection (``projection.weight``, ``projection.bias``)
  backbone/           (or ``hf_model_dir``, absolute or relative) the transformers model AND its
                      processor/tokenizer as written by ``save_pretrained``; loaded with
                      AutoProcessor + AutoModelForImageTextToText, nothing from a hub.

Latent = projection(concat over ``hidden_layers`` of pool(hidden state, attention mask)).
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
                                  check_instruction, check_proprio, read_checkpoint_config)
from vla_planner.image_utils import validate_rgb
from vla_planner.text_encoder import quiet_transformers

MODEL_TYPE = "hf_vlm"
POOLINGS = ("mean", "last", "max")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class HFBackboneConfig:
    """How to turn a transformers VLM into a latent (saved as config.json)."""
    model_type: str = MODEL_TYPE
    latent_dim: int = 128
    cameras: tuple[str, ...] = ("scene", "wrist")
    robot: str = ""
    hf_model_dir: str = "backbone"     # relative to the checkpoint dir, or absolute
    hidden_layers: tuple[int, ...] = (-1,)   # indices into hidden_states (0 = embeddings)
    pooling: str = "mean"              # mean | last | max over non-padding tokens
    dtype: str = "float32"             # float32 | bfloat16 | float16 (backbone weights)
    device: str = "cpu"
    prompt: str = "{instruction}"      # text after one image token per camera
    proprio_dim: int = 0               # >0: proprio is concatenated before the projection
    hidden_size: int = 0               # backbone text hidden size (filled when written)

    def __post_init__(self):
        if self.model_type != MODEL_TYPE:
            raise ValueError(f"model_type must be '{MODEL_TYPE}'")
        if self.latent_dim < 1 or self.proprio_dim < 0 or self.hidden_size < 0:
            raise ValueError("latent_dim must be >= 1, proprio_dim and hidden_size >= 0")
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"cameras must be non-empty and unique, got {self.cameras}")
        if not self.hidden_layers:
            raise ValueError("hidden_layers must name at least one layer")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got '{self.pooling}'")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got '{self.dtype}'")
        if "{instruction}" not in self.prompt:
            raise ValueError("prompt must contain '{instruction}'")

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, raw: dict) -> "HFBackboneConfig":
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def pool_hidden(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool (B, T, D) over the tokens where ``mask`` (B, T) is 1.

    Returns:
        (B, D) float32.

    Raises:
        ValueError: unknown pooling.
    """
    h = hidden.float()
    m = mask.to(h.dtype).unsqueeze(-1)
    if pooling == "mean":
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)
    if pooling == "max":
        return h.masked_fill(m == 0, float("-inf")).amax(1)
    if pooling == "last":
        # index of the last non-padding token (works for left or right padding)
        idx = (mask.long() * torch.arange(mask.shape[1], device=mask.device)).argmax(1)
        return h[torch.arange(h.shape[0], device=h.device), idx]
    raise ValueError(f"unknown pooling '{pooling}'")


class HFLatentModel(nn.Module):
    """Differentiable: processor outputs -> latent (B, latent_dim)."""

    def __init__(self, cfg: HFBackboneConfig, vlm: nn.Module, hidden_size: int):
        super().__init__()
        self.cfg = cfg
        self.vlm = vlm
        self.projection = nn.Linear(hidden_size * len(cfg.hidden_layers) + cfg.proprio_dim,
                                    cfg.latent_dim)

    def forward(self, inputs: Mapping[str, torch.Tensor],
                proprio: torch.Tensor | None = None) -> torch.Tensor:
        # The base model (no LM head: the vocabulary projection is not needed for a latent).
        base = getattr(self.vlm, "model", self.vlm)
        out = base(**inputs, output_hidden_states=True, return_dict=True)
        hs = out.hidden_states
        n = len(hs)
        feats = []
        for i in self.cfg.hidden_layers:
            if not -n <= i < n:
                raise ValueError(f"hidden layer {i} out of range for a model with {n} hidden states")
            feats.append(pool_hidden(hs[i], inputs["attention_mask"], self.cfg.pooling))
        if self.cfg.proprio_dim:
            feats.append(proprio.float())
        return self.projection(torch.cat(feats, -1))


def load_vlm(model_dir: str | os.PathLike, dtype: str = "float32", device: str = "cpu"):
    """Load processor + model from a local directory through the Auto classes.

    Raises:
        CheckpointError: missing directory or anything transformers cannot load.
    """
    quiet_transformers()
    from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: PLC0415

    d = Path(model_dir)
    if not (d / "config.json").is_file():
        raise CheckpointError(f"transformers model directory {d} has no config.json")
    try:
        processor = AutoProcessor.from_pretrained(str(d), local_files_only=True)
        model = AutoModelForImageTextToText.from_pretrained(str(d), dtype=DTYPES[dtype],
                                                            local_files_only=True)
    except Exception as e:  # noqa: BLE001 - report which directory and why
        raise CheckpointError(f"cannot load transformers model/processor from {d}: "
                              f"{type(e).__name__}: {e}") from e
    return processor, model.to(device).eval()


def text_hidden_size(model) -> int:
    cfg = model.config
    tc = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    return int(tc.hidden_size)


class HFBackbone(Backbone):
    """``Backbone`` over a transformers VLM; one image per camera in ``cfg.cameras`` order."""

    def __init__(self, cfg: HFBackboneConfig, processor, latent_model: HFLatentModel,
                 model_id: str, device: str):
        self.cfg = cfg
        self.processor = processor
        self.model = latent_model.to(device).eval()
        self.device = device
        self.latent_dim = cfg.latent_dim
        self.cameras = tuple(cfg.cameras)
        self.proprio_dim = cfg.proprio_dim
        self.model_id = model_id
        tok = getattr(processor, "image_token", None)
        if not isinstance(tok, str):
            raise CheckpointError("processor has no image_token: not an image-text-to-text processor")
        self.image_token = tok

    @classmethod
    def from_pretrained(cls, ckpt_dir: str | os.PathLike, device: str | None = None) -> "HFBackbone":
        """Raises CheckpointError for anything missing or inconsistent."""
        from safetensors.torch import load_file  # noqa: PLC0415

        d = Path(ckpt_dir)
        raw = read_checkpoint_config(d)
        try:
            cfg = HFBackboneConfig.from_json(raw)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{d}/config.json: {e}") from e
        dev = device or cfg.device
        hf_dir = Path(cfg.hf_model_dir)
        hf_dir = hf_dir if hf_dir.is_absolute() else d / hf_dir
        processor, vlm = load_vlm(hf_dir, cfg.dtype, dev)
        hidden = text_hidden_size(vlm)
        if cfg.hidden_size and cfg.hidden_size != hidden:
            raise CheckpointError(f"{d}: config hidden_size {cfg.hidden_size} != model's {hidden}")
        lm = HFLatentModel(cfg, vlm, hidden)
        wpath = d / "model.safetensors"
        if not wpath.is_file():
            raise CheckpointError(f"{d} has no model.safetensors (the latent projection)")
        try:
            state = load_file(str(wpath))
            lm.projection.load_state_dict({k.removeprefix("projection."): v for k, v in state.items()})
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"{wpath}: projection does not fit the model: {e}") from e
        mt = getattr(vlm.config, "model_type", "?")
        return cls(cfg, processor, lm, f"{MODEL_TYPE}:{mt}:{d.resolve()}", dev)

    def inputs(self, images: list[np.ndarray], instruction: str) -> dict[str, torch.Tensor]:
        """Processor tensors for one observation (batch of 1)."""
        text = self.image_token * len(images) + self.cfg.prompt.format(instruction=instruction)
        enc = self.processor(images=[[validate_rgb(im) for im in images]], text=[text],
                             return_tensors="pt")
        enc.pop("labels", None)  # some processors add LM labels; not a model input here
        model_dtype = next(self.model.vlm.parameters()).dtype
        return {k: (v.to(self.device, model_dtype) if torch.is_floating_point(v) else v.to(self.device))
                for k, v in enc.items()}

    def infer(self, images: Mapping[str, np.ndarray], instruction: str,
              proprio: np.ndarray | None = None) -> BackboneOutput:
        text = check_instruction(instruction)
        imgs = check_images(images, self.cameras)
        p = check_proprio(proprio, self.cfg.proprio_dim)
        t0 = time.perf_counter()
        with torch.inference_mode():
            inp = self.inputs(imgs, text)
            pt = None if p is None else torch.from_numpy(p).unsqueeze(0).to(self.device)
            z = self.model(inp, pt)[0].float().cpu().numpy()
        dt = time.perf_counter() - t0
        if not np.all(np.isfinite(z)):
            raise ValueError("backbone produced a non-finite latent")
        return BackboneOutput(z.astype(np.float32, copy=False), dt)


def write_hf_checkpoint(out_dir: str | os.PathLike, cfg: HFBackboneConfig, seed: int = 0) -> Path:
    """Write config.json + a seeded random projection for the VLM at ``cfg.hf_model_dir``.

    The VLM directory must already exist (a user's checkpoint, or one written by ``tiny_hf``).

    Raises:
        CheckpointError: the VLM cannot be loaded.
    """
    from safetensors.torch import save_file  # noqa: PLC0415

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    hf_dir = Path(cfg.hf_model_dir)
    _, vlm = load_vlm(hf_dir if hf_dir.is_absolute() else d / hf_dir, cfg.dtype, "cpu")
    hidden = text_hidden_size(vlm)
    cfg = dataclasses.replace(cfg, hidden_size=hidden)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        proj = nn.Linear(hidden * len(cfg.hidden_layers) + cfg.proprio_dim, cfg.latent_dim)
    save_file({"projection.weight": proj.weight.detach().contiguous(),
               "projection.bias": proj.bias.detach().contiguous()}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps(cfg.to_json(), indent=2) + "\n")
    return d
