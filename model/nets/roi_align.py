"""RoIAlign for the AVA head: torchvision's kernel, reached without importing torchvision where
nothing is differentiated.

Importing the ``torchvision`` package imports ``torch._dynamo`` (``torchvision.ops`` needs it for
``torch.compile``), about 1 s of CPU: a quarter of a demo evaluation job, which does nothing
with it. An inference-only process therefore loads torchvision's compiled operator library
alone and calls the operator ``torchvision.ops.roi_align`` itself calls on the CPU and on CUDA,
``torch.ops.torchvision.roi_align``: the same kernel, so the same bits
(``tests/model/test_roi_align.py`` compares the two).

``torchvision.ops.roi_align`` itself is used wherever its Python layer does something more:
when a gradient is wanted (its backward is registered from Python), on the meta device (shape
only, for FLOP counting; its meta kernel is registered from Python), and where torchvision
would not call the kernel (deterministic algorithms on an accelerator, where it uses its
Python implementation). A training process loses nothing by the import: building the
optimiser imports ``torch._dynamo`` anyway.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Callable

import torch

__all__ = ["roi_align"]


def roi_align(features: torch.Tensor, rois: torch.Tensor, *, output_size: int, spatial_scale: float,
              sampling_ratio: int, aligned: bool) -> torch.Tensor:
    """``torchvision.ops.roi_align`` on (N, C, H, W) features and (K, 5) rois [batch, x1, y1, x2, y2]."""
    kernel = None if _needs_torchvision(features, rois) else _kernel()
    if kernel is None:
        from torchvision.ops import roi_align as torchvision_roi_align

        return torchvision_roi_align(features, rois, output_size=output_size, spatial_scale=spatial_scale,
                                     sampling_ratio=sampling_ratio, aligned=aligned)
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) [batch index, x1, y1, x2, y2], got {tuple(rois.shape)}")
    return kernel(features, rois, spatial_scale, output_size, output_size, sampling_ratio, aligned)


def _needs_torchvision(features: torch.Tensor, rois: torch.Tensor) -> bool:
    if features.device.type not in ("cpu", "cuda"):
        return True
    if torch.is_grad_enabled() and (features.requires_grad or rois.requires_grad):
        return True
    return features.device.type == "cuda" and torch.are_deterministic_algorithms_enabled()


@functools.cache
def _kernel() -> Callable[..., torch.Tensor] | None:
    """torchvision's registered operator, loading its library if torchvision is not imported;
    None where the library is not found (then the caller imports torchvision)."""
    try:
        return torch.ops.torchvision.roi_align
    except (AttributeError, RuntimeError):  # not registered yet
        pass
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    libraries = sorted(Path(spec.origin).parent.glob("_C*.so"))
    if not libraries:
        return None
    torch.ops.load_library(str(libraries[0]))
    try:
        return torch.ops.torchvision.roi_align
    except (AttributeError, RuntimeError):
        return None
