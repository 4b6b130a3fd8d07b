"""Spatial transforms of a clip and its boxes, in one coordinate convention.

Frames are ``(C, T, H, W)`` float tensors; boxes are ``(N, 4)`` ``x1, y1, x2, y2`` in
**continuous pixel coordinates** of the current frame: the left edge of the image is x = 0
and the right edge x = W (a pixel ``i`` spans [i, i+1)). In that convention every transform
maps boxes exactly:

- resize W -> W' (bilinear, ``align_corners=False``, which maps continuous coordinates by
  x' = x * W'/W): boxes scale by W'/W in x and H'/H in y (each axis by its own factor, so
  the floor on the long side does not skew them);
- crop at (x0, y0): boxes shift by (-x0, -y0), then are clipped to [0, W] x [0, H];
- horizontal flip: x1' = W - x2, x2' = W - x1.

(PySlowFast scales both axes by the short-side factor and flips with ``W - x - 1``, the
pixel-index convention; the continuous one is what ``roi_align(aligned=True)`` assumes.)
Boxes pushed fully outside a crop are kept, clipped to zero area, as PySlowFast does.

Random choices come from a ``numpy.random.Generator`` passed in, so a sample is a pure
function of (seed, epoch, index): a resumed run sees the same augmentations.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "MEAN", "STD", "to_float_cthw", "normalise", "short_side_scale", "random_short_side_scale",
    "random_crop", "uniform_crop", "horizontal_flip", "clip_boxes",
]

MEAN = 0.45
STD = 0.225


def to_float_cthw(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float ``(3, T, H, W)`` in [0, 1]."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2).float().div_(255.0)


def normalise(frames: torch.Tensor) -> torch.Tensor:
    """PySlowFast's normalisation: (x - 0.45) / 0.225 on every channel."""
    return frames.sub_(MEAN).div_(STD)


def short_side_scale(frames: torch.Tensor, size: int,
                     boxes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resize so the short side is ``size`` (long side floored, as PySlowFast)."""
    _, _, height, width = frames.shape
    if height <= width:
        new_h, new_w = size, int(math.floor(width / height * size))
    else:
        new_h, new_w = int(math.floor(height / width * size)), size
    if (new_h, new_w) != (height, width):
        frames = F.interpolate(frames.permute(1, 0, 2, 3), size=(new_h, new_w),
                               mode="bilinear", align_corners=False).permute(1, 0, 2, 3)
    if boxes is not None:
        scale = torch.tensor([new_w / width, new_h / height, new_w / width, new_h / height],
                             dtype=boxes.dtype)
        boxes = boxes * scale
    return frames, boxes


def random_short_side_scale(frames: torch.Tensor, min_size: int, max_size: int,
                            rng: np.random.Generator, boxes: torch.Tensor | None = None):
    """Short side scale jitter: size = round(uniform(min_size, max_size))."""
    size = int(round(rng.uniform(min_size, max_size)))
    return short_side_scale(frames, size, boxes)


def _crop(frames, boxes, x0: int, y0: int, size: int):
    frames = frames[:, :, y0:y0 + size, x0:x0 + size]
    if boxes is not None:
        boxes = clip_boxes(boxes - torch.tensor([x0, y0, x0, y0], dtype=boxes.dtype),
                           frames.shape[2], frames.shape[3])
    return frames, boxes


def random_crop(frames: torch.Tensor, size: int, rng: np.random.Generator,
                boxes: torch.Tensor | None = None):
    """A ``size`` x ``size`` crop at a uniformly random integer offset."""
    _, _, height, width = frames.shape
    if height < size or width < size:
        raise ValueError(f"crop {size} larger than frame {height}x{width}")
    y0 = int(rng.integers(0, height - size + 1))
    x0 = int(rng.integers(0, width - size + 1))
    return _crop(frames, boxes, x0, y0, size)


def uniform_crop(frames: torch.Tensor, size: int, spatial_index: int,
                 boxes: torch.Tensor | None = None):
    """Crop 0/1/2 = start/centre/end along the long side (the 3 test crops)."""
    _, _, height, width = frames.shape
    y0 = int(math.ceil((height - size) / 2))
    x0 = int(math.ceil((width - size) / 2))
    if height > width:
        y0 = {0: 0, 1: y0, 2: height - size}[spatial_index]
    else:
        x0 = {0: 0, 1: x0, 2: width - size}[spatial_index]
    return _crop(frames, boxes, x0, y0, size)


def horizontal_flip(frames: torch.Tensor, boxes: torch.Tensor | None = None):
    width = frames.shape[-1]
    frames = frames.flip(-1)
    if boxes is not None:
        boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0],
                             boxes[:, 3]], dim=1)
    return frames, boxes


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    limits = torch.tensor([width, height, width, height], dtype=boxes.dtype)
    return torch.minimum(boxes.clamp(min=0), limits)
