"""Building blocks of the SlowFast pathways: stem, bottleneck, non-local block, lateral fusion.

Each block has the parameters of its PySlowFast counterpart, in the same shapes (convolutions
without bias before batch norm), so that released checkpoints map one to one
(`model.nets.convert`). The last batch norm of every residual branch, and of every non-local
block, is marked with `zero_init_gamma = True`; `model.nets.init.init_weights` zeroes its
gamma so each block starts as the identity (PySlowFast's ZERO_INIT_FINAL_BN).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Stem", "Bottleneck", "NonLocal", "PathwayStage", "LateralFusion"]

# PySlowFast's batch-norm settings (Caffe2 heritage): eps 1e-5, momentum 0.1.
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def batch_norm(channels: int, *, zero_init_gamma: bool = False) -> nn.BatchNorm3d:
    bn = nn.BatchNorm3d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)
    bn.zero_init_gamma = zero_init_gamma  # read by init_weights
    return bn


class Stem(nn.Module):
    """conv1 {t x 7^2, C} stride (1, 2^2) + BN + ReLU, then pool1 1x3^2 max stride (1, 2^2)."""

    def __init__(self, out_channels: int, temporal_kernel: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, (temporal_kernel, 7, 7),
                              stride=(1, 2, 2), padding=(temporal_kernel // 2, 3, 3), bias=False)
        self.bn = batch_norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class Bottleneck(nn.Module):
    """{t x 1^2, inner}, {1 x 3^2, inner} (spatial stride, dilation), {1 x 1^2, out} + shortcut.

    The shortcut is a strided 1x1^2 projection when the shape changes, else the identity.
    """

    def __init__(self, in_channels: int, inner_channels: int, out_channels: int, *,
                 temporal_kernel: int, spatial_stride: int, dilation: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv3d(in_channels, inner_channels, (temporal_kernel, 1, 1),
                                padding=(temporal_kernel // 2, 0, 0), bias=False)
        self.bn_a = batch_norm(inner_channels)
        self.conv_b = nn.Conv3d(inner_channels, inner_channels, (1, 3, 3),
                                stride=(1, spatial_stride, spatial_stride),
                                padding=(0, dilation, dilation), dilation=(1, dilation, dilation),
                                bias=False)
        self.bn_b = batch_norm(inner_channels)
        self.conv_c = nn.Conv3d(inner_channels, out_channels, 1, bias=False)
        self.bn_c = batch_norm(out_channels, zero_init_gamma=True)
        self.relu = nn.ReLU(inplace=True)
        if in_channels != out_channels or spatial_stride != 1:
            self.shortcut_conv = nn.Conv3d(in_channels, out_channels, 1,
                                           stride=(1, spatial_stride, spatial_stride), bias=False)
            self.shortcut_bn = batch_norm(out_channels)
        else:
            self.shortcut_conv = None
            self.shortcut_bn = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.shortcut_conv is None else self.shortcut_bn(self.shortcut_conv(x))
        y = self.relu(self.bn_a(self.conv_a(x)))
        y = self.relu(self.bn_b(self.conv_b(y)))
        y = self.bn_c(self.conv_c(y))
        return self.relu(shortcut + y)


class NonLocal(nn.Module):
    """Non-local block (Wang et al.), embedded-Gaussian or dot-product affinity, residual.

    Keys and values are max-pooled by `pool` (the report's FLOPs use (2, 2, 2)); the output
    passes a 1x1^2 conv and a zero-initialised BN, so the block starts as the identity.
    """

    def __init__(self, channels: int, *, pool: tuple[int, int, int], instantiation: str) -> None:
        super().__init__()
        if instantiation not in ("dot_product", "softmax"):
            raise ValueError(f"non-local instantiation must be dot_product or softmax, got {instantiation!r}")
        inner = channels // 2
        self.instantiation = instantiation
        self.inner = inner
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.out = nn.Conv3d(inner, channels, 1)
        self.bn = batch_norm(channels, zero_init_gamma=True)
        self.pool_size = tuple(pool)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """Max pool by `pool`, clipped to the map so that short clips (T=1) still work; equal
        to PySlowFast's MaxPool3d(pool, stride=pool) whenever the map is at least that large."""
        kernel = tuple(min(p, size) for p, size in zip(self.pool_size, x.shape[2:]))
        if all(k == 1 for k in kernel):
            return x
        return nn.functional.max_pool3d(x, kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (N, C', THW)
        pooled = self._pool(x)
        phi = self.phi(pooled).flatten(2)  # (N, C', P)
        g = self.g(pooled).flatten(2)
        affinity = torch.einsum("ncq,nck->nqk", theta, phi)
        if self.instantiation == "softmax":
            affinity = torch.softmax(affinity * self.inner**-0.5, dim=2)
        else:
            affinity = affinity / affinity.shape[2]
        y = torch.einsum("nqk,nck->ncq", affinity, g).reshape(n, self.inner, t, h, w)
        return x + self.bn(self.out(y))


class PathwayStage(nn.Module):
    """The blocks of one stage of one pathway; non-local blocks keyed by the block they follow."""

    def __init__(self, blocks: list[Bottleneck], nonlocal_blocks: dict[int, NonLocal]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.nonlocal_blocks = nn.ModuleDict({str(i): m for i, m in nonlocal_blocks.items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, block in enumerate(self.blocks):
            x = block(x)
            key = str(index)
            if key in self.nonlocal_blocks:
                x = self.nonlocal_blocks[key](x)
        return x


class LateralFusion(nn.Module):
    """Fast -> Slow: time-strided {k x 1^2, 2*beta*C} conv, stride alpha, BN, ReLU, concat."""

    def __init__(self, fast_channels: int, out_channels: int, *, kernel: int, alpha: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(fast_channels, out_channels, (kernel, 1, 1), stride=(alpha, 1, 1),
                              padding=(kernel // 2, 0, 0), bias=False)
        self.bn = batch_norm(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([slow, self.relu(self.bn(self.conv(fast)))], dim=1)
