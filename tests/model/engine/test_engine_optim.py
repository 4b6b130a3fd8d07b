"""SGD as the report trains: momentum 0.9, weight decay 1e-4 (Kinetics, Sec. 3) / 1e-7 (AVA, Sec. 2)."""

import pytest
import torch
from torch import nn

from model.engine.optim import build_sgd, set_lr
from model.nets import build


@pytest.mark.parametrize("weight_decay", [1e-4, 1e-7])
def test_every_parameter_but_normalisation_is_decayed(weight_decay):
    model = build("slowfast_8x8_r101_nl_tiny", task="ava", num_classes=80, nl_context=True)
    optimizer = build_sgd(model, lr=0.8, momentum=0.9, weight_decay=weight_decay)
    grouped = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each parameter once
    # Normalisation layers (BatchNorm in the backbone, LayerNorm in the context branch)
    # are not decayed, as PySlowFast; every convolution and linear weight and bias is.
    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    norm_params = {id(p) for m in model.modules() if isinstance(m, norms) for p in m.parameters(recurse=False)}
    decay_of = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    assert norm_params and len(norm_params) < len(decay_of)
    assert all(decay_of[i] == (0.0 if i in norm_params else weight_decay) for i in decay_of)
    assert all(group["momentum"] == 0.9 for group in optimizer.param_groups)


def test_decay_shrinks_a_weight_without_gradient_by_lr_times_decay():
    layer = nn.Linear(3, 2, bias=False)
    before = layer.weight.detach().clone()
    optimizer = build_sgd(layer, lr=0.5, momentum=0.9, weight_decay=1e-4)
    layer.weight.grad = torch.zeros_like(layer.weight)
    optimizer.step()
    assert torch.allclose(layer.weight.detach(), before * (1 - 0.5 * 1e-4))
    set_lr(optimizer, 0.1)
    assert all(group["lr"] == 0.1 for group in optimizer.param_groups)
