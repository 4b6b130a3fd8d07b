"""Inference over a test-mode dataset: Kinetics per-video probabilities (mean softmax over the
views) and AVA per-box scores (sigmoid, mean over the test-time-augmentation views)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from model.engine.precision import Precision

if TYPE_CHECKING:  # pandas (0.2 s to import) only where AVA detections are made
    import pandas as pd

__all__ = ["kinetics_video_id", "predict_ava", "predict_kinetics"]

AVA_CLASSES = 80


def kinetics_video_id(path: Any) -> str:
    """``<youtube_id>_<start>_<end>.mp4`` -> the YouTube id (ids may contain '_')."""
    return str(path.stem).rsplit("_", 2)[0]


def _loader(dataset: Dataset, batch_size: int, num_workers: int, collate) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate, pin_memory=torch.cuda.is_available())


@torch.no_grad()
def predict_kinetics(model: nn.Module, dataset: Any, precision: Precision, *, batch_size: int,
                     num_workers: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (video ids (V,), probabilities (V, C), labels (V,), -1 where unknown)."""
    from model.data import kinetics_collate
    from model.eval.kinetics import aggregate_views

    model.eval()
    logits, owners = [], []
    for batch in _loader(dataset, batch_size, num_workers, kinetics_collate):
        with precision.autocast():
            out = model([precision.prepare_input(x) for x in batch["inputs"]])
        logits.append(out.float().cpu().numpy())
        owners.append(batch["video_index"].numpy())
    videos, probs = aggregate_views(np.concatenate(logits), np.concatenate(owners), kind="logits")
    ids = np.array([kinetics_video_id(dataset.videos[v][0]) for v in videos])
    labels = np.array([dataset.videos[v][1] for v in videos], dtype=np.int64)
    return ids, probs, labels


@torch.no_grad()
def predict_ava(model: nn.Module, view_datasets: Sequence[Any], precision: Precision, *,
                batch_size: int, num_workers: int = 0) -> pd.DataFrame:
    """Detections of every proposal box for all 80 classes, scores averaged over the views.

    The views of one keyframe hold the same proposals in the same order, so a box is keyed
    by (video, second, position in the keyframe) across views.
    """
    import pandas as pd

    from model.data import ava_collate

    model.eval()
    sums: dict[tuple[str, int, int], np.ndarray] = {}
    counts: dict[tuple[str, int, int], int] = {}
    boxes: dict[tuple[str, int, int], np.ndarray] = {}
    for dataset in view_datasets:
        for batch in _loader(dataset, batch_size, num_workers, ava_collate):
            if batch["boxes"].shape[0] == 0:
                continue
            with precision.autocast():
                out = model([precision.prepare_input(x) for x in batch["inputs"]],
                            batch["boxes"].to(precision.device))
            scores = torch.sigmoid(out.float()).cpu().numpy()
            owner = batch["box_clip"].numpy()
            norm = batch["boxes_norm"].numpy()
            position = np.zeros(len(owner), dtype=np.int64)
            for i in range(1, len(owner)):
                position[i] = position[i - 1] + 1 if owner[i] == owner[i - 1] else 0
            for k in range(len(owner)):
                key = (str(batch["video_id"][owner[k]]), int(batch["timestamp"][owner[k]]),
                       int(position[k]))
                if key in sums:
                    sums[key] += scores[k]
                    counts[key] += 1
                else:
                    sums[key], counts[key], boxes[key] = scores[k].copy(), 1, norm[k]
    keys = list(sums)
    if not keys:
        return pd.DataFrame(columns=["video_id", "timestamp", "x1", "y1", "x2", "y2",
                                     "action_id", "score"])
    mean = np.stack([sums[k] / counts[k] for k in keys])  # (K, 80)
    box = np.stack([boxes[k] for k in keys])
    rows = len(keys)
    return pd.DataFrame({
        "video_id": np.repeat([k[0] for k in keys], AVA_CLASSES),
        "timestamp": np.repeat([k[1] for k in keys], AVA_CLASSES),
        "x1": np.repeat(box[:, 0], AVA_CLASSES), "y1": np.repeat(box[:, 1], AVA_CLASSES),
        "x2": np.repeat(box[:, 2], AVA_CLASSES), "y2": np.repeat(box[:, 3], AVA_CLASSES),
        "action_id": np.tile(np.arange(1, AVA_CLASSES + 1), rows),
        "score": mean[:, :AVA_CLASSES].reshape(-1),
    })
