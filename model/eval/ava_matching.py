"""The official AVA evaluator's per-keyframe rules as array operations.

Each function reproduces one step of ActivityNet ``get_ava_performance.py`` (3fee089) and
the object-detection ``PascalDetectionEvaluator`` with the same float64 operations in the
same order, so results are bit-equal; :mod:`model.eval.ava` chains them. Python loops remain
only where the official order is defined by its ``heapq`` layout: keyframes holding tied
scores (detections) or two boxes of one class (ground truth).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["IOU_THRESHOLD", "DETECTIONS_PER_KEYFRAME", "official_keyframe_order", "order_groundtruth",
           "stable_argsort_ids", "segments", "row_tuples", "pairwise_iou", "true_positives", "average_precision"]

IOU_THRESHOLD = 0.5
DETECTIONS_PER_KEYFRAME = 50


def official_keyframe_order(rows: Sequence[tuple], capacity: int) -> list[int]:
    """Indices of ``rows`` (file order) the official ``read_csv`` keeps, in its output order.

    Replays its ``heapq`` over ``(score, action_id, y1, x1, y2, x2)`` tuples and its stable
    ``sorted(key=-score)``. Rows with identical tuples are interchangeable downstream, so
    mapping a kept tuple back to any of its equal rows is exact.
    """
    heap: list[tuple] = []
    for row in rows:
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, row)
        elif row[0] > heap[0][0]:
            heapq.heapreplace(heap, row)
    positions: dict[tuple, list[int]] = defaultdict(list)
    for i in range(len(rows) - 1, -1, -1):
        positions[rows[i]].append(i)
    return [positions[t].pop() for t in sorted(heap, key=lambda t: -t[0])]


def row_tuples(columns: Mapping[str, object], index: np.ndarray) -> list[tuple]:
    """The official reader's ``(score, action_id, y1, x1, y2, x2)`` tuples of rows ``index``
    (``columns``: a DataFrame or a dict of arrays)."""
    cols = [np.asarray(columns[c])[index].tolist() for c in ("score", "action_id", "y1", "x1", "y2", "x2")]
    return list(zip(*cols))


def stable_argsort_ids(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative integer ids by 16-bit radix passes (NumPy's radix sort
    only serves types of 16 bits or less; timsort on int64 is several times slower)."""
    if len(keys) == 0 or keys.max() < 2**16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    if keys.max() >= 2**32:
        return np.argsort(keys, kind="stable")
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")]


def segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and position-within-run for a key array sorted so equal keys are adjacent."""
    change = np.ones(len(keys), dtype=bool)
    change[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(change)
    run_start = np.repeat(starts, np.diff(np.append(starts, len(keys))))
    return starts, np.arange(len(keys)) - run_start


def order_groundtruth(gt: pd.DataFrame, kf: np.ndarray, num_slots: int) -> np.ndarray:
    """GT row indices sorted by (keyframe, class), then in the official within-keyframe order.

    The order among boxes of one class only matters for equal-IoU ties, so the heap replay
    runs only on keyframes holding two boxes of the same class.
    """
    n = len(gt)
    pos = np.arange(n, dtype=np.int64)
    cls = gt["action_id"].to_numpy()
    gkey = kf * num_slots + cls
    counts = pd.Series(gkey).map(pd.Series(gkey).value_counts()).to_numpy()
    replay = np.unique(kf[counts > 1])
    if len(replay):
        idx = np.flatnonzero(np.isin(kf, replay))
        idx = idx[np.argsort(kf[idx], kind="stable")]  # file order within each keyframe
        tuples = row_tuples(gt, idx)
        starts, _ = segments(kf[idx])
        for s, e in zip(starts.tolist(), np.append(starts[1:], len(idx)).tolist()):
            order = official_keyframe_order(tuples[s:e], 0)
            pos[idx[s:e][order]] = idx[s] + np.arange(len(order))
    return np.lexsort((pos, gkey))


def pairwise_iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-wise IoU of [y1, x1, y2, x2] boxes with the official operation order (bit-equal)."""
    zeros = np.zeros(len(det))
    heights = np.maximum(zeros, np.minimum(det[:, 2], gt[:, 2]) - np.maximum(det[:, 0], gt[:, 0]))
    widths = np.maximum(zeros, np.minimum(det[:, 3], gt[:, 3]) - np.maximum(det[:, 1], gt[:, 1]))
    intersect = heights * widths
    area_det = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
    area_gt = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    return intersect / (area_det + area_gt - intersect)


def true_positives(det_key: np.ndarray, det_box: np.ndarray,
                   gt_key: np.ndarray, gt_box: np.ndarray) -> np.ndarray:
    """Greedy official matching, vectorised; detections given in processing order."""
    lo = np.searchsorted(gt_key, det_key, side="left")
    n = np.searchsorted(gt_key, det_key, side="right") - lo
    has_gt = n > 0
    tp = np.zeros(len(det_key), dtype=bool)
    if not has_gt.any():
        return tp
    pair_det = np.repeat(np.arange(len(det_key)), n)
    pair_start = np.cumsum(n) - n
    pair_gt = lo[pair_det] + (np.arange(len(pair_det)) - pair_start[pair_det])
    iou = pairwise_iou(det_box[pair_det], gt_box[pair_gt])
    best = np.full(len(det_key), -np.inf)
    best[has_gt] = np.maximum.reduceat(iou, pair_start[has_gt])
    is_best = iou == best[pair_det]
    first_det, first_pair = np.unique(pair_det[is_best], return_index=True)
    matched_gt = np.full(len(det_key), -1, dtype=np.int64)
    matched_gt[first_det] = pair_gt[np.flatnonzero(is_best)[first_pair]]
    candidates = np.flatnonzero(has_gt & (best >= IOU_THRESHOLD))
    _, first = np.unique(matched_gt[candidates], return_index=True)
    tp[candidates[first]] = True
    return tp


def average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """metrics.compute_precision_recall + compute_average_precision, same float operations."""
    if scores.size == 0:
        return 0.0
    sorted_indices = np.argsort(scores)[::-1]
    true_positive = tp.astype(int)[sorted_indices]
    cum_tp = np.cumsum(true_positive)
    cum_fp = np.cumsum(1 - true_positive)
    precision = cum_tp.astype(float) / (cum_tp + cum_fp)
    recall = cum_tp.astype(float) / num_gt
    recall = np.concatenate([[0], recall, [1]])
    precision = np.concatenate([[0], precision, [0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    indices = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[indices] - recall[indices - 1]) * precision[indices]))
