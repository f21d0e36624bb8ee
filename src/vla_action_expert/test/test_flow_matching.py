"""Flow matching learns a multimodal distribution (both modes, not their mean); sampler details."""
import numpy as np
import pytest
import torch

from vla_action_expert.configuration import ActionExpertConfig
from vla_action_expert.modeling import FlowMatchingActionExpert, _beta_sample


def _toy_config(**kw):
    return ActionExpertConfig(action_names=("a", "b"), latent_dim=4, horizon=4, hidden_dim=64,
                              num_blocks=2, time_embed_dim=16, num_inference_steps=10, **kw)


def _cond(model, n):
    return model.encode(torch.zeros(n, 4), torch.zeros(n), torch.zeros(n, 2))


def test_flow_matching_recovers_both_modes_of_a_bimodal_chunk_distribution():
    torch.manual_seed(0)
    cfg = _toy_config()
    model = FlowMatchingActionExpert(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(600):
        sign = torch.where(torch.rand(128, generator=g) < 0.5, -1.0, 1.0)
        x1 = sign[:, None, None] * torch.ones(128, 4, 2) + 0.05 * torch.randn(128, 4, 2, generator=g)
        loss = model.loss(x1, _cond(model, 128), g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    noise = torch.randn(400, 4, 2, generator=torch.Generator().manual_seed(1))
    out = model.sample(_cond(model, 400), noise, cfg.num_inference_steps)
    m = out.mean(dim=(1, 2)).numpy()
    frac_pos, frac_neg = np.mean(m > 0.7), np.mean(m < -0.7)
    frac_mean = np.mean(np.abs(m) < 0.3)
    assert frac_pos > 0.3 and frac_neg > 0.3, (frac_pos, frac_neg)
    assert frac_mean < 0.05, frac_mean
    # each chunk is one mode throughout, not a mix of rows from both
    assert float(out.std(dim=(1, 2)).median()) < 0.25


def test_guided_sampling_lands_weight_one_rows_on_target_and_blends_the_rest():
    torch.manual_seed(0)
    cfg = _toy_config()
    model = FlowMatchingActionExpert(cfg).eval()
    noise = torch.randn(2, 4, 2, generator=torch.Generator().manual_seed(2))
    target = torch.full((2, 4, 2), 3.0)
    w = torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 2)
    out = model.sample(_cond(model, 2), noise, 5, target, w)
    assert torch.allclose(out[:, :2], target[:, :2], atol=1e-5)
    free = model.sample(_cond(model, 2), noise, 5)
    assert not torch.allclose(free[:, :2], target[:, :2], atol=0.5)


@pytest.mark.parametrize("schedule", ["uniform", "beta", "logit_normal"])
def test_time_schedules_are_in_range_and_reproducible(schedule):
    model = FlowMatchingActionExpert(_toy_config(time_sampling=schedule))
    a = model.sample_time(1000, torch.Generator().manual_seed(0))
    b = model.sample_time(1000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 0.999


def test_beta_schedule_puts_more_weight_on_noisy_times():
    t = _beta_sample(20000, 1.0, 1.5, torch.Generator().manual_seed(0), "cpu")
    assert abs(float(t.mean()) - 1.0 / 2.5) < 0.01  # Beta(1, 1.5) mean = 0.4 < 0.5


def test_sample_rejects_zero_steps():
    model = FlowMatchingActionExpert(_toy_config())
    with pytest.raises(ValueError):
        model.sample(_cond(model, 1), torch.zeros(1, 4, 2), 0)


def test_encode_rejects_wrong_latent_shape():
    model = FlowMatchingActionExpert(_toy_config())
    with pytest.raises(ValueError, match="latent must be"):
        model.encode(torch.zeros(1, 5), torch.zeros(1), torch.zeros(1, 2))


def test_wrist_image_model_requires_the_image():
    cfg = _toy_config(wrist_image_size=16)
    model = FlowMatchingActionExpert(cfg)
    c = model.encode(torch.zeros(1, 4), torch.zeros(1), torch.zeros(1, 2), torch.rand(1, 3, 16, 16))
    assert c.c.shape == (1, 64)
    with pytest.raises(ValueError, match="wrist_image"):
        model.encode(torch.zeros(1, 4), torch.zeros(1), torch.zeros(1, 2))
