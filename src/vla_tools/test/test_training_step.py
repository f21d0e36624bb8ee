"""The optimization step shared by train_default and bench/bench_train_step.py."""
import numpy as np
import pytest
import torch
from torch import nn

from vla_action_expert.configuration import ActionExpertConfig
from vla_action_expert.normalization import NormStats
from vla_planner.embedded import EmbeddedPlannerConfig
from vla_tools.training_model import (GRAD_CLIP_NORM, DualSystem, apply_gradients,
                                      make_optimizer, parameter_groups, total_loss)


def _small_model(with_aux: bool) -> DualSystem:
    names = ("a", "b")
    pcfg = EmbeddedPlannerConfig(latent_dim=8, cameras=("scene",), image_size_px=16,
                                 cnn_channels=(4, 8), d_model=16, n_layers=1, ff_dim=16)
    ecfg = ActionExpertConfig(action_names=names, latent_dim=8, horizon=4, hidden_dim=16)
    norm = NormStats(names, np.zeros(2), np.ones(2), np.zeros(2), np.ones(2))
    aux = (np.zeros(3), np.ones(3)) if with_aux else None
    return DualSystem(pcfg, ecfg, norm, aux)


@pytest.mark.parametrize("with_aux", [True, False])
def test_parameter_groups_hold_every_parameter_once_planner_at_scaled_lr(with_aux):
    model = _small_model(with_aux)
    groups = parameter_groups(model, lr=1e-3, planner_lr_scale=0.5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {id(p) for p in model.planner.parameters()} == {id(p) for p in groups[0]["params"]}
    assert [g["lr"] for g in groups] == [5e-4, 1e-3]


def test_optimizer_is_adamw_with_the_given_weight_decay():
    opt = make_optimizer(parameter_groups(_small_model(True), 1e-3, 1.0), weight_decay=0.01)
    assert isinstance(opt, torch.optim.AdamW)
    assert all(g["weight_decay"] == 0.01 for g in opt.param_groups)


@pytest.mark.parametrize("aux_weight, expected", [(0.0, 2.0), (0.5, 3.5), (2.0, 8.0)])
def test_total_loss_is_flow_plus_weighted_aux(aux_weight, expected):
    ls = {"flow": torch.tensor(2.0), "aux": torch.tensor(3.0)}
    assert total_loss(ls, aux_weight).item() == pytest.approx(expected)


def test_large_gradient_is_clipped_to_the_norm_before_the_step():
    layer = nn.Linear(3, 1, bias=False)
    before = layer.weight.detach().clone()
    layer.weight.grad = torch.full_like(layer.weight, 100.0)
    apply_gradients(layer, torch.optim.SGD(layer.parameters(), lr=1.0))
    moved = (layer.weight.detach() - before).norm().item()
    assert moved == pytest.approx(GRAD_CLIP_NORM, rel=1e-5)


def test_small_gradient_is_applied_unchanged():
    layer = nn.Linear(3, 1, bias=False)
    before = layer.weight.detach().clone()
    layer.weight.grad = torch.full_like(layer.weight, 0.1)
    apply_gradients(layer, torch.optim.SGD(layer.parameters(), lr=1.0))
    assert torch.allclose(before - layer.weight.detach(), torch.full_like(before, 0.1))
