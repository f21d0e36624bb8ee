"""The default System 2 + System 1 trained as one differentiable graph (ROS-free).

``DualSystem`` = the embedded planner (``vla_planner.embedded.EmbeddedPlanner``: CNN + fusion +
projection; the MiniLM text embedding is a frozen, cached input) feeding the flow-matching action
expert (``vla_action_expert.modeling.FlowMatchingActionExpert``) through the latent, plus a small
auxiliary head used only while training. One loss, one optimizer: gradients of the action loss
flow through the latent into the planner. The two halves are saved as the two checkpoints the
nodes load (``save``), so deployment runs exactly these weights.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vla_action_expert.configuration import ActionExpertConfig
from vla_action_expert.modeling import FlowMatchingActionExpert
from vla_action_expert.normalization import NormStats
from vla_action_expert.policy import ActionExpertPolicy
from vla_planner.embedded import EmbeddedPlanner, EmbeddedPlannerConfig


class DualSystem(nn.Module):
    """planner(images, text) -> latent -> expert(latent, age, state) velocity field."""

    def __init__(self, pcfg: EmbeddedPlannerConfig, ecfg: ActionExpertConfig, norm: NormStats,
                 aux_stats: tuple[np.ndarray, np.ndarray] | None = None):
        """aux_stats: (mean [A], std [A]) of the auxiliary targets (``training_data.aux_stats``);
        None: no auxiliary head."""
        super().__init__()
        if pcfg.latent_dim != ecfg.latent_dim:
            raise ValueError(f"planner latent_dim {pcfg.latent_dim} != expert latent_dim "
                             f"{ecfg.latent_dim}")
        self.pcfg, self.ecfg, self.norm = pcfg, ecfg, norm
        self.planner = EmbeddedPlanner(pcfg)
        self.expert = FlowMatchingActionExpert(ecfg)
        aux_dim = 0 if aux_stats is None else len(aux_stats[0])
        self.aux_head = nn.Linear(pcfg.latent_dim, aux_dim) if aux_dim else None
        for k in ("state_mean", "state_std", "action_mean", "action_std"):
            self.register_buffer(k, torch.from_numpy(getattr(norm, k).copy()), persistent=False)
        mean, std = aux_stats if aux_dim else (np.zeros(0), np.ones(0))
        self.register_buffer("aux_mean", torch.as_tensor(np.asarray(mean, np.float32)), persistent=False)
        self.register_buffer("aux_std", torch.as_tensor(np.asarray(std, np.float32)), persistent=False)

    def losses(self, batch: dict, text_table: torch.Tensor, generator: torch.Generator,
               state_noise: float = 0.0, image_shift_px: int = 0,
               text_noise_std: float = 0.0) -> dict[str, torch.Tensor]:
        """Flow-matching loss (+ auxiliary loss) of one ``DemoSampler`` batch.

        Args:
            batch: numpy batch from ``training_data.DemoSampler.sample`` (with ``wrist`` when
                the expert takes a wrist image; its side must be the expert's
                ``wrist_image_size``).
            text_table: [n_texts, text_dim] frozen instruction embeddings.
            generator: torch generator for noise / flow times (replayable).
            state_noise: std of Gaussian noise added to the normalized S1 state input.
            image_shift_px: random translation (pixels, per observation) augmentation.
            text_noise_std: per-dimension std of Gaussian noise added to each observation's
                instruction embedding, renormalized to unit length as the text encoder's
                outputs are: a phrasing never seen in training lands off the few training
                strings, and this teaches the text path not to amplify such offsets.
        Returns:
            {"flow": scalar, "aux": scalar (0 if no aux head)}.
        """
        imgs = torch.from_numpy(batch["images"]).permute(0, 1, 4, 2, 3).float().div_(255.0)
        if image_shift_px:
            imgs = _random_shift(imgs, image_shift_px, generator)
        text = text_table[torch.from_numpy(batch["text_idx"])]
        text = perturb_text(text, text_noise_std, generator)
        latent = self.planner(imgs, text)                                    # [F, L]
        lat = latent[torch.from_numpy(batch["frame_of"])]                     # [F*R, L]
        st_n = (torch.from_numpy(batch["state"]) - self.state_mean) / self.state_std
        if state_noise:
            st_n = st_n + state_noise * torch.randn(st_n.shape, generator=generator)
        act_n = (torch.from_numpy(batch["actions"]) - self.action_mean) / self.action_std
        wrist = None
        if self.ecfg.wrist_image_size:  # System 1's own, newer wrist frame: [F*R, 3, S, S]
            wrist = torch.from_numpy(batch["wrist"]).permute(0, 3, 1, 2).float().div_(255.0)
            if image_shift_px:
                wrist = _random_shift(wrist[:, None], image_shift_px, generator)[:, 0]
        cond = self.expert.encode(lat, torch.from_numpy(batch["latent_age_s"]), st_n, wrist)
        out = {"flow": self.expert.loss(act_n, cond, generator, torch.from_numpy(batch["mask"]))}
        if self.aux_head is not None:
            tgt = (torch.from_numpy(batch["aux"]) - self.aux_mean) / self.aux_std
            m = torch.from_numpy(batch["aux_mask"])
            err = (self.aux_head(latent) - tgt) ** 2 * m
            out["aux"] = err.sum() / m.sum().clamp_min(1.0)
        else:
            out["aux"] = torch.zeros(())
        return out

    def save(self, planner_dir: str | Path, expert_dir: str | Path, extra: dict | None = None) -> None:
        """Write the two deployable checkpoints (planner: config.json + model.safetensors;
        expert: + normalization.json) and ``training.json`` (provenance) into each."""
        self.eval()
        self.planner.save_pretrained(planner_dir)
        ActionExpertPolicy(self.ecfg, self.expert, self.norm).save_pretrained(expert_dir)
        if extra:
            for d in (planner_dir, expert_dir):
                (Path(d) / "training.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")


GRAD_CLIP_NORM = 1.0  # max global L2 norm of one step's gradient


def parameter_groups(model: DualSystem, lr: float, planner_lr_scale: float) -> list[dict]:
    """Optimizer groups: System 2 at ``lr * planner_lr_scale``; System 1 and the auxiliary head
    at ``lr``."""
    head = list(model.aux_head.parameters()) if model.aux_head is not None else []
    return [{"params": list(model.planner.parameters()), "lr": lr * planner_lr_scale},
            {"params": list(model.expert.parameters()) + head, "lr": lr}]


def make_optimizer(groups: list[dict], weight_decay: float) -> torch.optim.AdamW:
    """AdamW, fused: one kernel over all parameters instead of ~15 small ops each (about 6 of the
    ~115 ms of a one-thread step here); same update rule, the state dict is interchangeable."""
    return torch.optim.AdamW(groups, weight_decay=weight_decay, fused=True)


def total_loss(losses: dict[str, torch.Tensor], aux_weight: float) -> torch.Tensor:
    """The trained objective: flow-matching loss + ``aux_weight`` x auxiliary loss."""
    return losses["flow"] + aux_weight * losses["aux"]


def apply_gradients(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    """Clip the accumulated gradient to ``GRAD_CLIP_NORM`` and take one optimizer step."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP_NORM)
    opt.step()


@torch.no_grad()
def whiten_text_projection(proj: nn.Linear, table: torch.Tensor, max_components: int = 32,
                           eps: float = 1e-3) -> int:
    """Initialize ``proj`` (text_dim -> d) to output the whitened principal components of the
    training instruction embeddings (centered, unit variance each).

    MiniLM embeddings of "pick up the red cube" and "... blue cube" differ by a few percent of
    their norm; a default-initialized projection passes that difference on as a tiny signal that
    the fusion takes thousands of steps to pick up. Whitening makes the words that distinguish
    the training instructions (colours, task verbs) O(1) features from step 0; the layer stays
    trainable. Rows past the number of components are zeroed.

    Args:
        proj: the planner's ``text_proj`` layer.
        table: [n, text_dim] embeddings of the training instruction strings.
        max_components: at most this many (and at most d, n - 1) components.
        eps: variance floor (relative to the largest component) below which components are dropped.
    Returns:
        The number of components used (0: fewer than 2 distinct strings, layer unchanged).
    """
    e = table.double()
    n = e.shape[0]
    if n < 2:
        return 0
    mu = e.mean(0)
    _, sv, vt = torch.linalg.svd(e - mu, full_matrices=False)
    std = sv / (n - 1) ** 0.5
    k = int(min(max_components, proj.out_features, n - 1, int((std > eps * std[0]).sum())))
    if k < 1:
        return 0
    w = torch.zeros(proj.out_features, proj.in_features, dtype=torch.float64)
    w[:k] = vt[:k] / std[:k, None]
    proj.weight.copy_(w.float())
    proj.bias.copy_((-(w @ mu)).float())
    return k


def perturb_text(text: torch.Tensor, noise_std: float, generator: torch.Generator) -> torch.Tensor:
    """Instruction embeddings moved off the training strings: Gaussian noise of ``noise_std``
    per dimension, then renormalized to unit length (the text encoder's outputs are unit vectors).

    Args:
        text: [B, text_dim] embeddings.
        noise_std: per-dimension std; 0 returns ``text`` unchanged.
        generator: torch generator (replayable training).
    Returns:
        [B, text_dim] unit-norm embeddings (``text`` itself when ``noise_std`` is 0).
    Raises:
        ValueError: negative or non-finite ``noise_std``.
    """
    if not (noise_std >= 0.0 and np.isfinite(noise_std)):
        raise ValueError(f"noise_std must be finite and >= 0, got {noise_std}")
    if noise_std == 0.0:
        return text
    return F.normalize(text + noise_std * torch.randn(text.shape, generator=generator), dim=-1)


def _random_shift(imgs: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each observation's images by the same random (dy, dx) in [-pad, pad] (edge
    padding), like a slightly moved camera. imgs: [F, N, 3, S, S]."""
    F_, N, C, S, _ = imgs.shape
    x = torch.nn.functional.pad(imgs.reshape(F_, N * C, S, S), (pad,) * 4, mode="replicate")
    out = torch.empty_like(imgs.reshape(F_, N * C, S, S))
    sh = torch.randint(0, 2 * pad + 1, (F_, 2), generator=generator)
    for f in range(F_):
        dy, dx = int(sh[f, 0]), int(sh[f, 1])
        out[f] = x[f, :, dy:dy + S, dx:dx + S]
    return out.reshape(F_, N, C, S, S)


def init_state_from(path: str | Path) -> tuple[dict[str, torch.Tensor], NormStats | None]:
    """Weights to start a new run from: a trainer state file (``trainer_state.pt``: the whole
    ``DualSystem`` state, auxiliary head included) or a checkpoint root holding the deployable
    ``planner/`` and ``action_expert/`` (the shipped weights; no auxiliary head).

    Returns:
        (state dict in ``DualSystem`` key space, the root's action-expert normalization or None
        for a trainer state file). A run started from a checkpoint root keeps that root's
        normalization so its weights see the inputs they were trained on.
    Raises:
        FileNotFoundError: neither a file nor a root with both checkpoints.
    """
    from safetensors.torch import load_file  # noqa: PLC0415

    p = Path(path)
    if p.is_file():
        return torch.load(p, weights_only=False)["model"], None
    pw, ew = p / "planner" / "model.safetensors", p / "action_expert" / "model.safetensors"
    if not (pw.is_file() and ew.is_file()):
        raise FileNotFoundError(f"{p}: not a trainer state file and no {pw.relative_to(p)} + "
                                f"{ew.relative_to(p)} under it")
    sd = {f"planner.{k}": v for k, v in load_file(str(pw)).items()}
    sd.update({f"expert.{k}": v for k, v in load_file(str(ew)).items()})
    return sd, NormStats.load(p / "action_expert" / "normalization.json")


def norm_from_episodes(names, episodes) -> NormStats:
    return NormStats.from_data(tuple(names), np.concatenate([e.state for e in episodes]),
                               np.concatenate([e.action for e in episodes]))
