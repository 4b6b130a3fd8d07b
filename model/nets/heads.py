"""Heads: Kinetics classification and AVA detection. Both return logits.

The evaluation code applies softmax (Kinetics, averaged over the 30 views) or a per-class
sigmoid (AVA); training uses cross-entropy / BCE-with-logits on the same logits.

Kinetics: global average pool per pathway, concat, dropout, fc. Global (adaptive) pooling
makes the head independent of T and of the crop size, so 256x256 fully-convolutional testing
needs nothing special: because the fc is linear, the logits of the pooled map equal the mean
of the per-position logits that PySlowFast's fully-convolutional test averages (it averages
after softmax, over a 2x2 grid of 7x7 windows; see docs/fidelity.md).

AVA: RoIAlign (torchvision's kernel, ``model.nets.roi_align``) on each pathway's res5 after temporal average pooling (the 2-D
box replicated along time), 7x7 output, spatial max pool, concat, optional non-local context,
dropout, fc.
"""

from __future__ import annotations

import torch
from torch import nn

from model.nets.errors import BoxError
from model.nets.roi_align import roi_align

__all__ = ["KineticsHead", "AvaHead", "NonLocalContext", "check_boxes"]

ROI_RESOLUTION = 7
# A box edge may sit this far (in pixels) outside the frame: proposals rounded to integer
# pixels, or scaled back from normalised coordinates, land a hair past the border.
BOX_TOLERANCE_PX = 1.0


class KineticsHead(nn.Module):
    def __init__(self, in_channels: list[int], num_classes: int, *, dropout: float) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(sum(in_channels), num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        pooled = torch.cat([self.pool(f).flatten(1) for f in features], dim=1)
        return self.projection(self.dropout(pooled))


def check_boxes(boxes: torch.Tensor, *, batch_size: int, height: int, width: int) -> None:
    """Reject boxes that are not (K, 5) [batch_index, x1, y1, x2, y2] inside the frame."""
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 5:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise BoxError(f"boxes must be a (K, 5) tensor [batch_index, x1, y1, x2, y2], got {shape}")
    if not boxes.is_floating_point():
        raise BoxError(f"boxes must be a floating-point tensor, got {boxes.dtype}")
    if boxes.shape[0] == 0 or boxes.device.type == "meta":  # meta: shape-only (FLOP counting)
        return
    if not bool(torch.isfinite(boxes).all()):
        row = int((~torch.isfinite(boxes)).any(dim=1).nonzero()[0])
        raise BoxError(f"box {row} has a non-finite value: {boxes[row].tolist()}")
    index = boxes[:, 0]
    bad = (index != index.round()) | (index < 0) | (index >= batch_size)
    if bool(bad.any()):
        row = int(bad.nonzero()[0])
        raise BoxError(f"box {row} has batch index {float(index[row])}; expected an integer "
                       f"in [0, {batch_size - 1}] for a batch of {batch_size} clips")
    x1, y1, x2, y2 = boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    tol = BOX_TOLERANCE_PX
    outside = (x1 < -tol) | (y1 < -tol) | (x2 > width + tol) | (y2 > height + tol)
    if bool(outside.any()):
        row = int(outside.nonzero()[0])
        raise BoxError(f"box {row} {boxes[row, 1:].tolist()} lies outside the {width}x{height} frame; "
                       f"boxes are [x1, y1, x2, y2] in input-pixel coordinates")
    inverted = (x2 < x1) | (y2 < y1)
    if bool(inverted.any()):
        row = int(inverted.nonzero()[0])
        raise BoxError(f"box {row} {boxes[row, 1:].tolist()} has x2 < x1 or y2 < y1")


class NonLocalContext(nn.Module):
    """Self-attention from each region to its clip's global features (the report's NL context).

    The queries are the region features; keys and values are the positions of the clip's
    temporally pooled res5 map (all pathways concatenated). The attended context goes through
    a linear map, LayerNorm and ReLU and is concatenated to the region feature before the
    classifier, so the head sees [region, context].
    """

    def __init__(self, channels: int, inner: int) -> None:
        super().__init__()
        self.inner = inner
        self.query = nn.Linear(channels, inner)
        self.key = nn.Linear(channels, inner)
        self.value = nn.Linear(channels, inner)
        self.out = nn.Linear(inner, inner)
        self.norm = nn.LayerNorm(inner)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, regions: torch.Tensor, clip_maps: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
        """regions (K, C); clip_maps (B, C, H, W); batch_index (K,) long -> context (K, inner)."""
        positions = clip_maps.flatten(2).transpose(1, 2)  # (B, HW, C)
        keys = self.key(positions)[batch_index]  # (K, HW, inner)
        values = self.value(positions)[batch_index]
        query = self.query(regions).unsqueeze(1)  # (K, 1, inner)
        attention = torch.softmax((query @ keys.transpose(1, 2)) * self.inner**-0.5, dim=-1)
        context = (attention @ values).squeeze(1)
        return self.relu(self.norm(self.out(context)))


class AvaHead(nn.Module):
    def __init__(self, in_channels: list[int], num_classes: int, *, dropout: float,
                 spatial_scale: float, nl_context: bool) -> None:
        super().__init__()
        self.spatial_scale = spatial_scale
        channels = sum(in_channels)
        self.context = NonLocalContext(channels, channels // 2) if nl_context else None
        head_in = channels + (channels // 2 if nl_context else 0)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(head_in, num_classes)

    def forward(self, features: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """features: res5 maps (B, C_p, T_p, h, w); boxes (K, 5) in input pixels -> (K, classes)."""
        clip_maps = [f.mean(dim=2) for f in features]  # temporal average pool
        # RoIAlign in float32 even under autocast: bfloat16 box coordinates would be off by
        # up to a pixel at 256 px (8-bit mantissa).
        rois = boxes.float()
        pooled = [
            roi_align(m.float(), rois, output_size=ROI_RESOLUTION, spatial_scale=self.spatial_scale,
                      sampling_ratio=0, aligned=True).amax(dim=(2, 3))
            for m in clip_maps]
        regions = torch.cat(pooled, dim=1)
        if self.context is not None:
            context = self.context(regions, torch.cat(clip_maps, dim=1), boxes[:, 0].long())
            regions = torch.cat([regions, context], dim=1)
        return self.projection(self.dropout(regions))
