"""Synchronous SGD as the report trains: momentum 0.9, weight decay 1e-4 (Kinetics) / 1e-7 (AVA).

BatchNorm affine parameters get no weight decay, as in the reference implementation
(PySlowFast ``BN.WEIGHT_DECAY = 0.0``): decaying the BN scale towards zero fights the
normalisation and the report does not say otherwise. Every other parameter (convolutions,
classifier weights and biases) is decayed.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["build_sgd", "set_lr"]

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def build_sgd(model: nn.Module, *, lr: float, momentum: float = 0.9,
              weight_decay: float = 1e-4) -> torch.optim.SGD:
    """SGD over ``model``'s trainable parameters, two groups: decayed and BN (not decayed)."""
    norm_params: list[nn.Parameter] = []
    other_params: list[nn.Parameter] = []
    for module in model.modules():
        for param in module.parameters(recurse=False):
            if not param.requires_grad:
                continue
            (norm_params if isinstance(module, _NORM_TYPES) else other_params).append(param)
    groups = [{"params": other_params, "weight_decay": weight_decay}]
    if norm_params:
        groups.append({"params": norm_params, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group (the schedule drives it per step)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
