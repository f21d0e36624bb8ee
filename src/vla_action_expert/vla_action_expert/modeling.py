"""Flow-matching action expert: the torch module, its loss and its sampler (ROS-free).

Convention (rectified flow): t = 0 is Gaussian noise x0, t = 1 is the (normalized) action chunk
x1; x_t = (1 - t) x0 + t x1 and the network predicts the velocity v = x1 - x0. Sampling integrates
dx/dt = v from t = 0 to 1 with K Euler steps. Everything works in normalized action space; the
policy (policy.py) converts to and from robot units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from vla_action_expert.configuration import ActionExpertConfig
from vla_planner.embedded import spatial_softmax  # the planner's keypoint read-out, reused

AGE_CLIP = 5.0  # age features beyond 5 scales carry no information, and keep inputs bounded


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of flow time.

    Args:
        t: [B] flow times in [0, 1].
        dim: even feature size.
    Returns:
        [B, dim] features (frequencies 1 .. 1000 on t * 1000, transformer-style).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / half)
    ang = (t * 1000.0)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class WristEncoder(nn.Module):
    """Small conv net for a low-res wrist image ([B, C, S, S] in [0, 1]) -> [B, out].

    Reads where things are, not only what: ``keypoints`` spatial-softmax keypoints (expected
    (x, y) of learned feature channels, as the planner's CNN does) of its stride-4 map, plus the
    map's average. In the last centimetres of a grasp the cube's offset in the wrist view is the
    signal; an average-pooled map alone discards it.
    """

    def __init__(self, channels: int, out_dim: int, keypoints: int = 16):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(32, 32, 3, stride=1, padding=1), nn.SiLU())
        self.kp_conv = nn.Conv2d(32, keypoints, 1)
        self.out = nn.Linear(2 * keypoints + 32, out_dim)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        h = self.conv(img * 2.0 - 1.0)
        kp = spatial_softmax(self.kp_conv(h)).flatten(1)
        return self.out(torch.cat([kp, h.mean((2, 3))], -1))


class FiLMBlock(nn.Module):
    """Pre-norm residual MLP block modulated (scale, shift, gate) by the condition."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.mod = nn.Linear(dim, 3 * dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift, gate = self.mod(c).chunk(3, dim=-1)
        y = self.norm(h) * (1.0 + scale) + shift
        return h + (1.0 + gate) * self.fc2(F.silu(self.fc1(y)))


@dataclass
class Condition:
    """Encoded conditioning of a batch, computed once per chunk and reused by every flow step."""
    c: torch.Tensor  # [B, hidden]


class FlowMatchingActionExpert(nn.Module):
    """Velocity field v(x_t, t | latent, latent age, state, [wrist image]) over a whole chunk."""

    def __init__(self, config: ActionExpertConfig):
        super().__init__()
        self.config = config
        cfg = config
        h = cfg.hidden_dim
        self.chunk_numel = cfg.horizon * cfg.action_dim
        cond_in = cfg.latent_dim + 1 + cfg.state_dim
        self.wrist = None
        if cfg.wrist_image_size:
            self.wrist = WristEncoder(cfg.wrist_image_channels, h)
        self.cond_mlp = nn.Sequential(nn.Linear(cond_in, h), nn.SiLU(), nn.Linear(h, h))
        self.time_mlp = nn.Sequential(nn.Linear(cfg.time_embed_dim, h), nn.SiLU(),
                                      nn.Linear(h, h))
        self.in_proj = nn.Linear(self.chunk_numel, h)
        self.blocks = nn.ModuleList(FiLMBlock(h) for _ in range(cfg.num_blocks))
        self.out_norm = nn.LayerNorm(h)
        self.out_proj = nn.Linear(h, self.chunk_numel)

    # --- conditioning -------------------------------------------------------------------------
    def encode(self, latent: torch.Tensor, latent_age_s: torch.Tensor, state_n: torch.Tensor,
               wrist_image: torch.Tensor | None = None) -> Condition:
        """Encode the conditioning inputs.

        Args:
            latent: [B, latent_dim] System 2 latent.
            latent_age_s: [B] seconds between the latent's image stamp and the chunk start.
            state_n: [B, state_dim] normalized proprioceptive state.
            wrist_image: [B, C, S, S] in [0, 1] if the config uses one, else None.
        Returns:
            Condition for ``velocity``.
        Raises:
            ValueError: shapes do not match the config.
        """
        cfg = self.config
        B = latent.shape[0]
        if latent.shape != (B, cfg.latent_dim):
            raise ValueError(f"latent must be [B, {cfg.latent_dim}], got {tuple(latent.shape)}")
        if state_n.shape != (B, cfg.state_dim):
            raise ValueError(f"state must be [B, {cfg.state_dim}], got {tuple(state_n.shape)}")
        age = (latent_age_s.reshape(B, 1) / cfg.latent_age_scale_s).clamp(0.0, AGE_CLIP)
        c = self.cond_mlp(torch.cat([latent, age.to(latent.dtype), state_n], dim=-1))
        if self.wrist is not None:
            s, ch = cfg.wrist_image_size, cfg.wrist_image_channels
            if wrist_image is None or wrist_image.shape != (B, ch, s, s):
                got = None if wrist_image is None else tuple(wrist_image.shape)
                raise ValueError(f"wrist_image must be [B, {ch}, {s}, {s}], got {got}")
            c = c + self.wrist(wrist_image)
        return Condition(c)

    def velocity(self, x: torch.Tensor, t: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Velocity at ``x`` [B, H, D] and flow time ``t`` [B]; returns [B, H, D]."""
        B = x.shape[0]
        c = cond.c + self.time_mlp(sinusoidal_embedding(t, self.config.time_embed_dim))
        c = F.silu(c)
        h = self.in_proj(x.reshape(B, self.chunk_numel))
        for blk in self.blocks:
            h = blk(h, c)
        return self.out_proj(self.out_norm(h)).reshape(x.shape)

    # --- training -----------------------------------------------------------------------------
    def sample_time(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Flow times for training from the configured schedule (see docs/ACTION_EXPERT.md)."""
        cfg = self.config
        dev = self.out_proj.weight.device
        if cfg.time_sampling == "uniform":
            t = torch.rand(n, generator=generator, device=dev)
        elif cfg.time_sampling == "logit_normal":
            t = torch.sigmoid(torch.randn(n, generator=generator, device=dev))
        else:  # torch's Beta distribution ignores generators: own sampler keeps runs replayable
            t = _beta_sample(n, cfg.time_beta_a, cfg.time_beta_b, generator, dev)
        return t.clamp(0.0, 0.999)

    def loss(self, actions_n: torch.Tensor, cond: Condition,
             generator: torch.Generator | None = None,
             mask: torch.Tensor | None = None) -> torch.Tensor:
        """Conditional flow-matching loss.

        Args:
            actions_n: [B, H, D] normalized target chunks.
            cond: encoded conditioning.
            generator: for reproducible noise/time draws.
            mask: optional [B, H] validity of rows (padding past an episode's end = 0).
        Returns:
            Scalar mean squared velocity error.
        """
        B = actions_n.shape[0]
        x0 = torch.randn(actions_n.shape, generator=generator, device=actions_n.device)
        t = self.sample_time(B, generator)
        tt = t[:, None, None]
        xt = (1.0 - tt) * x0 + tt * actions_n
        err = (self.velocity(xt, t, cond) - (actions_n - x0)) ** 2
        if mask is None:
            return err.mean()
        m = mask[:, :, None].to(err.dtype)
        return (err * m).sum() / (m.sum() * err.shape[-1]).clamp_min(1.0)

    # --- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, cond: Condition, noise: torch.Tensor, num_steps: int,
               guide_target: torch.Tensor | None = None,
               guide_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Integrate the flow from ``noise`` [B, H, D] with ``num_steps`` Euler steps.

        Guidance (real-time chunking): with ``guide_target`` [B, H, D] (normalized) and
        ``guide_weight`` [B, H] in [0, 1], each step corrects the velocity so that the predicted
        end point x1_hat = x + (1 - t) v moves the fraction ``w`` of the way to the target. Rows
        with w = 1 therefore end exactly on the target (the frozen prefix); rows with 0 < w < 1
        blend; the network sees the corrected x at every step, so the free rows are inpainted to
        continue the frozen ones. This is RTC's guided inpainting with the network Jacobian
        approximated by the identity (one forward pass per step, no backprop).

        Returns:
            [B, H, D] normalized chunks.
        Raises:
            ValueError: num_steps < 1.
        """
        if num_steps < 1:
            raise ValueError("num_steps must be >= 1")
        x = noise
        B = x.shape[0]
        dt = 1.0 / num_steps
        w = None if guide_target is None else guide_weight[:, :, None].to(x.dtype)
        for k in range(num_steps):
            t = k * dt
            v = self.velocity(x, torch.full((B,), t, dtype=x.dtype, device=x.device), cond)
            if w is not None:
                x1_hat = x + (1.0 - t) * v
                v = v + w * (guide_target - x1_hat) / (1.0 - t)
            x = x + dt * v
        return x


def _beta_sample(n: int, a: float, b: float, generator, device) -> torch.Tensor:
    """Beta(a, b) draws from a torch generator (Johnk's method; exact, reproducible).

    Args:
        n: number of draws.
        a, b: shape parameters > 0.
    Returns:
        [n] samples in (0, 1).
    """
    out = torch.empty(0, device=device)
    while out.numel() < n:
        u = torch.rand(2 * n + 8, generator=generator, device=device)
        v = torch.rand(2 * n + 8, generator=generator, device=device)
        x, y = u ** (1.0 / a), v ** (1.0 / b)
        ok = (x + y) <= 1.0
        ok &= (x + y) > 0
        out = torch.cat([out, (x / (x + y))[ok]])
    return out[:n]
