"""Train the action expert with conditional flow matching (ROS-free CLI).

    python -m vla_action_expert.train --dataset DIR --robot franka --out OUT [--steps N] [--resume]

CPU-friendly: small batches, a tqdm progress bar, validation loss every ``--val-every`` steps
on fixed batches, checkpoints (``OUT/`` = latest policy checkpoint, ``OUT/best/`` = best val,
``OUT/trainer_state.pt`` = optimizer/step/RNG for ``--resume``).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vla_action_expert.configuration import ActionExpertConfig, default_config
from vla_action_expert.data import ChunkSampler, Episode, SamplerConfig, load_episodes, \
    synthetic_episodes
from vla_action_expert.latent import StateProjectionLatent, SyntheticLatent
from vla_action_expert.modeling import FlowMatchingActionExpert
from vla_action_expert.normalization import NormStats
from vla_action_expert.policy import ActionExpertPolicy, wrist_image_tensor

STATE_FILE = "trainer_state.pt"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    val_every: int = 200
    val_batches: int = 4
    ckpt_every: int = 500
    seed: int = 0
    wrist_camera: str = "wrist"   # dataset camera used as the wrist image (if the model has one)


class Trainer:
    """Flow-matching trainer with a pluggable (possibly trainable) latent function."""

    def __init__(self, model_config: ActionExpertConfig, train_eps: list[Episode],
                 val_eps: list[Episode], latent_fn: nn.Module, config: TrainConfig = TrainConfig(),
                 sampler_config: SamplerConfig | None = None, norm: NormStats | None = None):
        self.mcfg, self.cfg, self.latent_fn = model_config, config, latent_fn
        sc = sampler_config or SamplerConfig(model_config.horizon, model_config.step_period_s)
        if sc.horizon != model_config.horizon or sc.step_period_s != model_config.step_period_s:
            raise ValueError("sampler horizon/step_period_s must match the model config")
        self.train_sampler = ChunkSampler(train_eps, sc)
        self.val_sampler = ChunkSampler(val_eps or train_eps, sc)
        if norm is None:
            norm = NormStats.from_data(model_config.action_names,
                                       np.concatenate([e.state for e in train_eps]),
                                       np.concatenate([e.action for e in train_eps]))
        torch.manual_seed(config.seed)
        self.policy = ActionExpertPolicy(model_config, FlowMatchingActionExpert(model_config), norm)
        self.model = self.policy.model
        params = list(self.model.parameters()) + [p for p in latent_fn.parameters()
                                                  if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        self.step = 0
        self.rng = np.random.default_rng(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.best_val = float("inf")
        self.history: list[tuple[int, float, float]] = []  # (step, train loss, val loss)
        self._nt = {k: torch.from_numpy(getattr(norm, k).copy())
                    for k in ("state_mean", "state_std", "action_mean", "action_std")}

    def batch_loss(self, b: dict, generator: torch.Generator) -> torch.Tensor:
        """Flow-matching loss of one numpy batch (the latent function runs inside the graph)."""
        nt = self._nt
        obs = {"observation.state": torch.from_numpy(b["delayed_state"]), "task": b["task"]}
        for cam, imgs in b.get("delayed_images", {}).items():
            obs[f"observation.images.{cam}"] = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255.0
        latent = self.latent_fn(obs)
        st_n = (torch.from_numpy(b["state"]) - nt["state_mean"]) / nt["state_std"]
        act_n = (torch.from_numpy(b["actions"]) - nt["action_mean"]) / nt["action_std"]
        img = None
        if self.mcfg.wrist_image_size:
            imgs = b.get("delayed_images", {}).get(self.cfg.wrist_camera)
            if imgs is None:
                raise ValueError(f"model needs wrist images: dataset has no camera "
                                 f"'{self.cfg.wrist_camera}'")
            img = torch.stack([wrist_image_tensor(i, self.mcfg) for i in imgs])
        cond = self.model.encode(latent, torch.from_numpy(b["latent_age_s"]), st_n, img)
        return self.model.loss(act_n, cond, generator, torch.from_numpy(b["mask"]))

    def train_step(self) -> float:
        self.model.train()
        self.latent_fn.train()
        b = self.train_sampler.sample(self.cfg.batch_size, self.rng)
        loss = self.batch_loss(b, self.gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]],
                                 self.cfg.grad_clip)
        self.opt.step()
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def val_loss(self) -> float:
        """Mean loss over fixed validation batches (same draws every call: comparable)."""
        self.model.eval()
        self.latent_fn.eval()
        rng = np.random.default_rng(12345)
        gen = torch.Generator().manual_seed(12345)
        losses = [float(self.batch_loss(self.val_sampler.sample(self.cfg.batch_size, rng), gen))
                  for _ in range(self.cfg.val_batches)]
        return float(np.mean(losses))

    # --- checkpoints --------------------------------------------------------------------------
    def save(self, out: Path) -> None:
        self.model.eval()
        self.policy.save_pretrained(out)
        torch.save({"step": self.step, "opt": self.opt.state_dict(), "best_val": self.best_val,
                    "rng": self.rng.bit_generator.state, "gen": self.gen.get_state(),
                    "latent_fn": self.latent_fn.state_dict(), "history": self.history},
                   out / STATE_FILE)

    def resume(self, out: Path) -> None:
        """Load weights and trainer state written by ``save``.

        Raises:
            FileNotFoundError: no trainer state in ``out``.
        """
        st_path = out / STATE_FILE
        if not st_path.is_file():
            raise FileNotFoundError(f"cannot resume: {st_path} not found")
        loaded = ActionExpertPolicy.from_pretrained(out, self.mcfg.action_names,
                                                    self.mcfg.latent_dim)
        self.model.load_state_dict(loaded.model.state_dict())
        st = torch.load(st_path, weights_only=False)
        self.opt.load_state_dict(st["opt"])
        self.step, self.best_val, self.history = st["step"], st["best_val"], st["history"]
        self.rng.bit_generator.state = st["rng"]
        self.gen.set_state(st["gen"])
        self.latent_fn.load_state_dict(st["latent_fn"])

    def fit(self, out: Path | None = None, progress: bool = True) -> list[tuple[int, float, float]]:
        """Train until ``config.steps``; validate and checkpoint periodically."""
        from tqdm import tqdm
        bar = tqdm(total=self.cfg.steps, initial=self.step, disable=not progress,
                   desc="action expert", dynamic_ncols=True)
        recent: list[float] = []
        while self.step < self.cfg.steps:
            recent.append(self.train_step())
            bar.update(1)
            if self.step % self.cfg.val_every == 0 or self.step == self.cfg.steps:
                v = self.val_loss()
                tl = float(np.mean(recent[-self.cfg.val_every:]))
                self.history.append((self.step, tl, v))
                bar.set_postfix(train=f"{tl:.4f}", val=f"{v:.4f}")
                if out is not None and v < self.best_val:
                    self.best_val = v
                    self.model.eval()
                    self.policy.save_pretrained(out / "best")
            if out is not None and (self.step % self.cfg.ckpt_every == 0
                                    or self.step == self.cfg.steps):
                self.save(out)
        bar.close()
        return self.history


def _split(eps: list[Episode], val_fraction: float, seed: int):
    idx = np.random.default_rng(seed).permutation(len(eps))
    n_val = int(round(len(eps) * val_fraction)) if len(eps) > 1 else 0
    n_val = min(max(n_val, 1 if len(eps) > 1 and val_fraction > 0 else 0), len(eps) - 1)
    return [eps[i] for i in idx[n_val:]], [eps[i] for i in idx[:n_val]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", required=True,
                    help="dataset directory, or synthetic:N for N generated episodes")
    ap.add_argument("--robot", default="franka")
    ap.add_argument("--config-dir", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=TrainConfig.steps)
    ap.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--val-every", type=int, default=TrainConfig.val_every)
    ap.add_argument("--ckpt-every", type=int, default=TrainConfig.ckpt_every)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--include-failed", action="store_true", help="also train on failed episodes")
    ap.add_argument("--latent", choices=("state_projection", "synthetic"), default="state_projection",
                    help="stand-in latent function (end-to-end training passes System 2 in code)")
    ap.add_argument("--latent-dim", type=int, default=128)
    ap.add_argument("--delay-min-s", type=float, default=0.1)
    ap.add_argument("--delay-max-s", type=float, default=0.3)
    ap.add_argument("--horizon", type=int, default=ActionExpertConfig.horizon)
    ap.add_argument("--hidden-dim", type=int, default=ActionExpertConfig.hidden_dim)
    ap.add_argument("--num-blocks", type=int, default=ActionExpertConfig.num_blocks)
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, a.torch_threads))
    from vla_common.config import load_robot_config
    robot = load_robot_config(a.robot, "sim", a.config_dir)
    names = robot.command_names
    try:
        if a.dataset.startswith("synthetic:"):
            eps = synthetic_episodes(int(a.dataset.split(":", 1)[1]), len(names), seed=a.seed)
        else:
            eps = load_episodes(a.dataset, command_names=names,
                                successful_only=not a.include_failed)
    except ValueError as e:  # DatasetError: missing dataset, wrong names, no episodes
        print(f"error: {e}", file=sys.stderr)
        return 2
    train_eps, val_eps = _split(eps, a.val_fraction, a.seed)
    mcfg = default_config(a.robot, names, latent_dim=a.latent_dim, horizon=a.horizon,
                          hidden_dim=a.hidden_dim, num_blocks=a.num_blocks, seed=a.seed)
    latent_fn = (StateProjectionLatent(len(names), a.latent_dim, seed=a.seed)
                 if a.latent == "state_projection" else SyntheticLatent(a.latent_dim, a.seed))
    tc = TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, val_every=a.val_every,
                     ckpt_every=a.ckpt_every, seed=a.seed)
    sc = SamplerConfig(mcfg.horizon, mcfg.step_period_s, a.delay_min_s, a.delay_max_s)
    tr = Trainer(mcfg, train_eps, val_eps, latent_fn, tc, sc)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.resume:
        tr.resume(out)
        print(f"resumed at step {tr.step}", file=sys.stderr)
    hist = tr.fit(out, progress=not a.no_progress)
    if hist:
        print(f"done: step {tr.step}, train loss {hist[-1][1]:.4f}, val loss {hist[-1][2]:.4f}, "
              f"checkpoint {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
