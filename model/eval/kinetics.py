"""Kinetics video-level metrics: view aggregation, top-k accuracy and the challenge metric.

The report's protocol (section on Kinetics): each test video is scored over 30 views
(10 temporal clips x 3 spatial crops); the video's prediction is the mean of the views'
softmax probabilities. The ActivityNet Kinetics challenge ranks by the mean of the top-1 and
top-5 errors.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["KineticsInputError", "softmax", "aggregate_views", "topk_accuracy", "challenge_metrics"]

ScoreKind = Literal["logits", "probabilities"]


class KineticsInputError(ValueError):
    """Scores, labels or indices that do not fit together (shape, range, not probabilities)."""


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _as_scores(scores: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise KineticsInputError(f"{name} must be a non-empty (N, C) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise KineticsInputError(f"{name} row {row} holds a non-finite value")
    return array


def aggregate_views(scores: np.ndarray, video_index: np.ndarray, *,
                    kind: ScoreKind) -> tuple[np.ndarray, np.ndarray]:
    """Mean softmax over the views of each video.

    ``scores`` is ``(N_views, C)``; ``kind`` says what it holds -- there is no guessing:
    ``"logits"`` are turned into probabilities by a softmax per view, ``"probabilities"`` must
    already be rows of non-negative numbers summing to 1 (checked to 1e-4). ``video_index``
    (``N_views``) says which video each view belongs to (ints or strings).
    Returns ``(videos, probabilities)``: the sorted unique video ids and a ``(V, C)`` array.
    """
    array = _as_scores(scores, "scores")
    index = np.asarray(video_index)
    if index.shape != (array.shape[0],):
        raise KineticsInputError(f"video_index has shape {index.shape}, expected ({array.shape[0]},)")
    if kind == "logits":
        probs = softmax(array)
    elif kind == "probabilities":
        sums = array.sum(axis=1)
        bad = (array < 0).any(axis=1) | (np.abs(sums - 1.0) > 1e-4)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise KineticsInputError(f"scores row {row} is not a probability vector (sum {sums[row]:.6g}); "
                                     "pass kind='logits' for raw network outputs")
        probs = array
    else:
        raise KineticsInputError(f"kind must be 'logits' or 'probabilities', got {kind!r}")
    videos, inverse = np.unique(index, return_inverse=True)
    totals = np.zeros((len(videos), array.shape[1]))
    np.add.at(totals, inverse, probs)
    counts = np.bincount(inverse, minlength=len(videos))
    return videos, totals / counts[:, None]


def _labels(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (probs.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise KineticsInputError(f"labels must be {probs.shape[0]} integers, got {y.dtype} {y.shape}")
    if ((y < 0) | (y >= probs.shape[1])).any():
        raise KineticsInputError(f"labels must lie in [0, {probs.shape[1]})")
    return y


def _hits(probs: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Label counts as within the top k when fewer than k classes score strictly higher
    (ties with the label's own score are resolved in the video's favour)."""
    own = probs[np.arange(len(labels)), labels]
    return (probs > own[:, None]).sum(axis=1) < k


def topk_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of videos whose label is among their ``k`` highest-scoring classes."""
    array = _as_scores(probs, "probs")
    if not 1 <= k <= array.shape[1]:
        raise KineticsInputError(f"k must be in [1, {array.shape[1]}], got {k}")
    return float(_hits(array, _labels(labels, array), k).mean())


def challenge_metrics(per_video_probs: np.ndarray, labels: np.ndarray) -> dict[str, object]:
    """Top-1/top-5 accuracy and error, the challenge error (their mean) and per-class accuracy.

    ``per_class_accuracy`` maps each class present in ``labels`` to its top-1 accuracy;
    ``mean_class_accuracy`` is their unweighted mean.
    """
    probs = _as_scores(per_video_probs, "per_video_probs")
    y = _labels(labels, probs)
    k5 = min(5, probs.shape[1])
    top1_hits = _hits(probs, y, 1)
    top1 = float(top1_hits.mean())
    top5 = float(_hits(probs, y, k5).mean())
    per_class = {int(c): float(top1_hits[y == c].mean()) for c in np.unique(y)}
    return {
        "top1": top1,
        "top5": top5,
        "top1_error": 1.0 - top1,
        "top5_error": 1.0 - top5,
        "challenge_error": ((1.0 - top1) + (1.0 - top5)) / 2.0,
        "per_class_accuracy": per_class,
        "mean_class_accuracy": float(np.mean(list(per_class.values()))),
    }
