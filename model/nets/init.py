"""Weight initialisation as in the report and PySlowFast.

* Convolutions: He (MSRA) normal, fan-out, ReLU gain (the report's [11]; Caffe2's
  `MSRAFill`, PySlowFast's `c2_msra_fill`); biases 0.
* Batch norm: gamma 1, beta 0, except the last BN of each residual branch and of each
  non-local block (`zero_init_gamma`), whose gamma is 0 so that every block starts as the
  identity (PySlowFast's RESNET.ZERO_INIT_FINAL_BN = True, used by all its SlowFast configs).
* Linear layers (classifier, context branch): normal(0, 0.01), bias 0 (MODEL.FC_INIT_STD);
  LayerNorm: 1 / 0.
"""

from __future__ import annotations

from torch import nn

__all__ = ["init_weights", "FC_INIT_STD"]

FC_INIT_STD = 0.01


def init_weights(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.constant_(module.weight, 0.0 if getattr(module, "zero_init_gamma", False) else 1.0)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=FC_INIT_STD)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
