"""Batching samples whose box counts differ (AVA) or that carry view indices (Kinetics)."""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["kinetics_collate", "ava_collate"]


def _stack_inputs(batch: Sequence[dict]) -> list[torch.Tensor]:
    return [torch.stack([s["inputs"][p] for s in batch]) for p in range(len(batch[0]["inputs"]))]


def kinetics_collate(batch: Sequence[dict]) -> dict:
    """-> inputs: list of (B, 3, T, H, W); label, video_index, view_index: (B,) int64."""
    return {
        "inputs": _stack_inputs(batch),
        "label": torch.tensor([s["label"] for s in batch], dtype=torch.long),
        "video_index": torch.tensor([s["video_index"] for s in batch], dtype=torch.long),
        "view_index": torch.tensor([s["view_index"] for s in batch], dtype=torch.long),
    }


def ava_collate(batch: Sequence[dict]) -> dict:
    """-> inputs: list of (B, 3, T, H, W); boxes: (K, 5) = [batch index, x1, y1, x2, y2]
    (the layout ``torchvision.ops.roi_align`` takes); labels: (K, 80); boxes_norm: (K, 4);
    video_id, timestamp: per clip (length B); box_clip: (K,) the clip index of each box.
    """
    boxes, labels, norm, owner = [], [], [], []
    for index, sample in enumerate(batch):
        count = sample["boxes"].shape[0]
        boxes.append(torch.cat([torch.full((count, 1), float(index)), sample["boxes"]], dim=1))
        labels.append(sample["labels"])
        norm.append(sample["boxes_norm"])
        owner.append(torch.full((count,), index, dtype=torch.long))
    return {
        "inputs": _stack_inputs(batch),
        "boxes": torch.cat(boxes),
        "labels": torch.cat(labels),
        "boxes_norm": torch.cat(norm),
        "box_clip": torch.cat(owner),
        "video_id": [s["video_id"] for s in batch],
        "timestamp": [s["timestamp"] for s in batch],
    }
