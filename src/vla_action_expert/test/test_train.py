"""Trainer: loss goes down, resume is exact, latency augmentation, pluggable latent function."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from vla_action_expert.configuration import ActionExpertConfig
from vla_action_expert.data import ChunkSampler, Episode, SamplerConfig, synthetic_episodes
from vla_action_expert.latent import StateProjectionLatent, SyntheticLatent
from vla_action_expert.policy import ActionExpertPolicy
from vla_action_expert.train import TrainConfig, Trainer

NAMES = ("a", "b", "c")


def _cfg():
    return ActionExpertConfig(action_names=NAMES, latent_dim=8, horizon=4, hidden_dim=32,
                              num_blocks=1, time_embed_dim=8)


def _trainer(steps, seed=0, latent_fn=None):
    eps = synthetic_episodes(6, 3, seed=0, T=60)
    return Trainer(_cfg(), eps[:5], eps[5:], latent_fn or StateProjectionLatent(3, 8),
                   TrainConfig(steps=steps, batch_size=16, val_every=10, val_batches=2,
                               ckpt_every=10, seed=seed))


def test_training_reduces_validation_loss():
    tr = _trainer(60)
    v0 = tr.val_loss()
    hist = tr.fit(progress=False)
    assert hist[-1][2] < 0.8 * v0


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    full = _trainer(20)
    full.fit(progress=False)
    half = _trainer(10)
    half.fit(tmp_path, progress=False)
    resumed = _trainer(20)
    resumed.resume(tmp_path)
    assert resumed.step == 10
    resumed.fit(tmp_path, progress=False)
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert (tmp_path / "best" / "model.safetensors").is_file()
    ActionExpertPolicy.from_pretrained(tmp_path, NAMES, 8)


def test_resume_without_state_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        _trainer(5).resume(tmp_path)


def test_trainable_latent_function_gets_gradients_end_to_end():
    class TinyS2(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 8)

        def forward(self, obs):
            return torch.tanh(self.lin(obs["observation.state"]))

    s2 = TinyS2()
    before = s2.lin.weight.detach().clone()
    tr = _trainer(3, latent_fn=s2)
    tr.fit(progress=False)
    assert not torch.equal(before, s2.lin.weight)


def test_latency_augmentation_ages_lie_in_the_deployment_range():
    T = 500
    ep = Episode(np.arange(T)[:, None] * np.ones((1, 3)), np.zeros((T, 3)), np.arange(T) / 50.0)
    b = ChunkSampler([ep], SamplerConfig(4, 0.02, 0.1, 0.3)).sample(256, np.random.default_rng(0))
    late = b["state"][:, 0] >= 15  # at least 300 ms into the episode: no clipping at its start
    ages = b["latent_age_s"][late]
    # delayed observation = the newest 50 Hz frame at or before now - U(0.1, 0.3) s
    assert ages.min() >= 0.1 - 1e-6 and ages.max() <= 0.3 + 0.02 + 1e-6
    assert ages.max() - ages.min() > 0.15  # the whole range is used
    assert np.all(b["latent_age_s"] >= 0)
    assert np.allclose(b["latent_age_s"], (b["state"][:, 0] - b["delayed_state"][:, 0]) / 50.0,
                       atol=1e-5)


def test_sampler_uses_the_newest_image_before_the_delayed_time():
    T = 100
    ts = np.arange(T) / 50.0
    frames = np.arange(0, T, 5)  # images at 10 Hz
    imgs = np.repeat(frames[:, None, None, None], 3, axis=3).astype(np.uint8) * np.ones((1, 2, 2, 3), np.uint8)
    ep = Episode(np.arange(T)[:, None] * np.ones((1, 3)), np.zeros((T, 3)), ts,
                 images={"wrist": (frames, imgs)})
    b = ChunkSampler([ep], SamplerConfig(4, 0.02, 0.1, 0.3)).sample(64, np.random.default_rng(1))
    frame_used = b["delayed_images"]["wrist"][:, 0, 0, 0].astype(int)
    cur = b["state"][:, 0].astype(int)
    assert np.all(b["delayed_state"][:, 0].astype(int) == frame_used)  # latent state = image frame
    assert np.all(frame_used <= cur)
    assert np.allclose(b["latent_age_s"], (cur - frame_used) / 50.0, atol=1e-6)


def test_chunk_rows_past_episode_end_are_masked():
    ep = Episode(np.zeros((3, 3)), np.arange(9.0).reshape(3, 3), np.arange(3) / 50.0)
    b = ChunkSampler([ep], SamplerConfig(4, 0.02, 0.0, 0.0)).sample(32, np.random.default_rng(0))
    assert np.all(b["mask"].sum(1) == 3 - np.argmax(b["actions"][:, 0, 0][:, None] == [0, 3, 6], axis=1))


@pytest.mark.parametrize("bad", [
    dict(state=np.zeros((3, 2)), action=np.zeros((2, 2)), timestamp=np.arange(3.0)),
    dict(state=np.full((3, 2), np.nan), action=np.zeros((3, 2)), timestamp=np.arange(3.0)),
    dict(state=np.zeros((3, 2)), action=np.zeros((3, 2)), timestamp=np.zeros(3)),
    dict(state=np.zeros((0, 2)), action=np.zeros((0, 2)), timestamp=np.zeros(0)),
])
def test_malformed_episode_is_rejected(bad):
    with pytest.raises(ValueError):
        Episode(**bad)


def test_synthetic_latent_is_deterministic_per_task():
    f = SyntheticLatent(8, seed=1)
    a = f({"task": ["x", "y", "x"]})
    assert torch.equal(a[0], a[2]) and not torch.equal(a[0], a[1])


def test_train_cli_writes_a_loadable_checkpoint(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vla_action_expert.train", "--dataset", "synthetic:4",
                        "--out", str(tmp_path), "--steps", "4", "--batch-size", "8",
                        "--val-every", "2", "--ckpt-every", "2", "--hidden-dim", "32",
                        "--num-blocks", "1", "--no-progress", "--torch-threads", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "done: step 4" in r.stdout
    p = ActionExpertPolicy.from_pretrained(tmp_path, expected_latent_dim=128)
    assert p.config.action_dim == 8


def _write_dataset(root, names, n_eps=3, T=40, success=True):
    from vla_common.dataset import DatasetInfo, DatasetWriter
    info = DatasetInfo(robot="franka", fps=50.0, state_names=tuple(names), action_names=tuple(names))
    eps = synthetic_episodes(n_eps, len(names), seed=2, T=T)
    with DatasetWriter(root, info) as w:
        for e in eps:
            w.start_episode("pick the cube")
            for s, a, t in zip(e.state, e.action, e.timestamp):
                w.add_frame(s, a, float(t))
            w.end_episode(success=success)
    return eps


def test_load_episodes_reads_the_shared_dataset_format(tmp_path):
    from vla_action_expert.data import load_episodes
    from vla_common.dataset import DatasetError
    names = [f"panda_joint{i}" for i in range(1, 8)] + ["gripper"]
    src = _write_dataset(tmp_path / "ds", names)
    eps = load_episodes(tmp_path / "ds", command_names=names)
    assert len(eps) == 3 and eps[0].task == "pick the cube"
    assert np.allclose(eps[0].action, src[0].action) and np.allclose(eps[0].timestamp, src[0].timestamp)
    with pytest.raises(DatasetError, match="do not match"):
        load_episodes(tmp_path / "ds", command_names=names[::-1])
    with pytest.raises(DatasetError):
        load_episodes(tmp_path / "missing")


def test_train_cli_on_a_dataset_and_bad_dataset_errors(tmp_path):
    names = [f"panda_joint{i}" for i in range(1, 8)] + ["gripper"]
    _write_dataset(tmp_path / "ds", names)
    base = [sys.executable, "-m", "vla_action_expert.train", "--out", str(tmp_path / "out"),
            "--steps", "2", "--batch-size", "4", "--val-every", "1", "--hidden-dim", "32",
            "--num-blocks", "1", "--no-progress", "--torch-threads", "1"]
    r = subprocess.run(base + ["--dataset", str(tmp_path / "ds")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(base + ["--dataset", str(tmp_path / "nope")], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "not a dataset" in r.stderr
