"""AVA frame-level mAP, computed as the official ActivityNet evaluator computes it.

Reference: ``Evaluation/get_ava_performance.py`` at activitynet/ActivityNet commit ``3fee089``
(the version with the ``-e`` exclusions flag, used by the 2019 challenge) over the Google
object-detection ``PascalDetectionEvaluator`` in ``Evaluation/ava/``. Its semantics, all
reproduced here with array operations instead of its per-image Python loop:

* rows whose action id is not in the label map are dropped when read, before anything else;
* detections are capped at 50 rows per keyframe across classes, highest scores first, with
  the official heap's tie semantics (a row enters only with a strictly greater score);
* excluded keyframes (``"%s,%04d" % (video, int(second))``) leave both files;
* a detection box with ``y1 >= y2`` or ``x1 >= x2`` is dropped after the cap;
* per keyframe and class, detections in descending score take the ground-truth box of
  highest IoU (first one on equal IoU); TP if IoU >= 0.5 and that box is not yet taken,
  else FP -- no fallback to the second best box;
* keyframes with detections and no ground truth contribute false positives;
* per class, VOC all-points AP over the class' detections sorted by
  ``np.argsort(scores)[::-1]`` in the order the official loop concatenates them;
  classes without ground truth are NaN and left out of ``np.nanmean``; a class with ground
  truth and no detection scores 0.

Tied scores: the official order depends on its heap's internal layout and on NumPy's
unstable sort. Keyframes holding tied scores are replayed through the same heap
(:func:`model.eval.ava_matching.official_keyframe_order`) and the per-class sort is the same
``np.argsort`` call on the same array, so with the same NumPy the results are identical, ties
included. Detections are streamed in blocks (:mod:`model.eval.ava_cap`) to bound memory.
See docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pprint
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.eval.ava_cap import KeyframeRanks, cap_detections, take_consuming
from model.eval.ava_io import (
    AvaInputError,
    Tolerated,
    iter_detection_batches,
    read_ava_csv,
    read_exclusions,
    read_labelmap,
    validate_frame,
)
from model.eval.ava_matching import (
    IOU_THRESHOLD,
    average_precision,
    order_groundtruth,
    true_positives,
)

__all__ = ["AvaResult", "AvaInputError", "frame_map", "read_labelmap", "read_ava_csv",
           "read_exclusions", "main"]

_METRIC_PREFIX = "PascalBoxes_"
MATCHING_CHUNK_ROWS = 1 << 19

Source = str | os.PathLike[str] | pd.DataFrame


@dataclass(frozen=True)
class AvaResult:
    """Frame-level AVA result. ``per_class_ap`` holds every label-map class, NaN when the
    class has no ground truth (left out of ``mAP``, as the official ``np.nanmean``)."""

    mAP: float
    per_class_ap: dict[int, float]
    class_names: dict[int, str]
    warnings: tuple[str, ...] = ()
    num_groundtruth_boxes: int = 0
    num_evaluated_detections: int = 0
    unknown_video_rows: int = 0
    out_of_map_detection_rows: int = 0

    def official_metrics(self) -> dict[str, float]:
        """The metric dictionary the official evaluator prints, same keys."""
        out = {f"{_METRIC_PREFIX}Precision/mAP@{IOU_THRESHOLD}IOU": self.mAP}
        for class_id, ap in self.per_class_ap.items():
            out[f"{_METRIC_PREFIX}PerformanceByCategory/AP@{IOU_THRESHOLD}IOU/"
                f"{self.class_names[class_id]}"] = ap
        return out

    def to_json(self) -> dict[str, object]:
        """``{"mAP": float, "per_class_ap": {"<id>": float}}``; NaN becomes ``null``."""
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else float(x)
        return {"mAP": clean(self.mAP),
                "per_class_ap": {str(k): clean(v) for k, v in self.per_class_ap.items()}}


def _keyframe_chunks(kf: np.ndarray, size: int) -> Iterator[tuple[int, int]]:
    """Ranges of about ``size`` rows that never split a keyframe (matching is per keyframe),
    to bound the memory of the pairwise IoU arrays."""
    boundaries = np.append(np.flatnonzero(kf[1:] != kf[:-1]) + 1, len(kf))
    start = 0
    while start < len(kf):
        end = int(boundaries[min(np.searchsorted(boundaries, start + size), len(boundaries) - 1)])
        yield start, end
        start = end


def _load_groundtruth(source: Source, tolerated: Tolerated) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return validate_frame(source, "<groundtruth DataFrame>", scored=False, tolerated=tolerated)
    return read_ava_csv(source, scored=False, tolerated=tolerated)


def _detection_blocks(source: Source, tolerated: Tolerated
                      ) -> tuple[Callable[[], Iterator[tuple[int, pd.DataFrame]]], str]:
    """A re-startable source of ``(first_line, frame)`` detection blocks, and its name. Rows
    are reported to ``tolerated`` on the first pass only (a second pass reads the same rows)."""
    if isinstance(source, pd.DataFrame):
        frame = validate_frame(source, "<detections DataFrame>", scored=True, tolerated=tolerated)
        return (lambda: iter([(1, frame)])), "<detections DataFrame>"
    first = iter_detection_batches(source, tolerated=tolerated)
    first_block = next(first)  # fail on an unreadable or empty file now, not mid-evaluation
    used = [False]

    def blocks() -> Iterator[tuple[int, pd.DataFrame]]:
        if not used[0]:
            used[0] = True
            yield first_block
            yield from first
        else:
            yield from iter_detection_batches(source, tolerated=Tolerated(strict=False))
    return blocks, os.fspath(source)


def _keyframe_codes(video: np.ndarray, timestamp: np.ndarray | int) -> np.ndarray:
    """One int64 per keyframe: ``video << 32 | (timestamp + 2**31)``; timestamps may be
    negative (the official evaluator keys them as ``"%s,%04d"``), validated to 32 bits."""
    return np.left_shift(np.asarray(video, dtype=np.int64), 32) | (np.asarray(timestamp, dtype=np.int64) + 2**31)


def frame_map(groundtruth_csv: Source, detections_csv: Source,
              labelmap: str | os.PathLike[str] | Mapping[int, str],
              exclusions: str | os.PathLike[str] | set[tuple[str, int]] | None = None,
              *, strict: bool = False, expected_classes: int | None = 60) -> AvaResult:
    """Frame-level AVA mAP@0.5 of ``detections_csv`` against ``groundtruth_csv``.

    Inputs are paths to the official CSV/pbtxt formats or already-read objects (a DataFrame
    with the detection columns, rows in "file" order; a ``{id: name}`` label map; a set of
    ``(video_id, second)``). Detection rows on videos absent from the ground truth are false
    positives, as in the official evaluator, and produce a warning; ``strict=True`` makes
    them an :class:`AvaInputError`. So are malformed rows the official evaluator takes
    without a word (an inverted detection box is dropped, a box outside [0, 1] scored as
    given, ...: :func:`model.eval.ava_io.validate_frame`): by default they are handled as it
    handles them with one warning per kind (count and first line), with ``strict=True`` the
    first one is an error. A NaN score on a label-map row is always an error: the official
    ranking of NaN scores follows its heap's memory layout, not the scores.
    """
    names = (dict(labelmap) if isinstance(labelmap, Mapping)
             else read_labelmap(labelmap, expected_classes=expected_classes))
    bad_ids = [i for i in names if i < 1]
    if bad_ids:
        raise AvaInputError(labelmap if not isinstance(labelmap, Mapping) else "<labelmap>",
                            None, f"label ids must be >= 1, got {bad_ids}")
    excluded = (set(exclusions) if isinstance(exclusions, set)
                else read_exclusions(exclusions) if exclusions is not None else set())
    tolerated = Tolerated(strict=strict)
    gt = _load_groundtruth(groundtruth_csv, tolerated)
    blocks, det_name = _detection_blocks(detections_csv, tolerated)
    num_class = max(names)
    class_ids = np.fromiter(names, dtype=np.int64)
    num_slots = num_class + 1

    # One code per video (ground-truth videos first), one int64 per keyframe (_keyframe_codes).
    video_codes = {str(v): i for i, v in enumerate(gt["video_id"].array.categories)}
    num_gt_videos = len(video_codes)

    def excluded_keyframes() -> np.ndarray:
        pairs = [(video_codes[v], t) for v, t in excluded if v in video_codes]
        return _keyframe_codes(np.array([v for v, _ in pairs], dtype=np.int64),
                               np.array([t for _, t in pairs], dtype=np.int64))

    gt_kf = _keyframe_codes(gt["video_id"].array.codes, gt["timestamp"].to_numpy())
    gt_rows = np.isin(gt["action_id"].to_numpy(), class_ids)
    if excluded:
        gt_rows &= ~np.isin(gt_kf, excluded_keyframes())
    gt = gt[gt_rows].reset_index(drop=True)
    gt_kf = gt_kf[gt_rows]
    gt_order = order_groundtruth(gt, gt_kf, num_slots)
    gt_key = (gt_kf * num_slots + gt["action_id"].to_numpy())[gt_order]
    gt_box = gt[["y1", "x1", "y2", "x2"]].to_numpy()[gt_order]

    ranks = KeyframeRanks()
    counts = {"passes": 0, "out_of_map": 0, "unknown": 0}
    unknown_videos: set[str] = set()
    first_unknown: list[tuple[int, str]] = []

    def stream() -> Iterator[dict[str, np.ndarray]]:
        """Detection blocks reduced to label-map ids on non-excluded keyframes, ranked."""
        counting = counts["passes"] == 0
        for first_line, frame in blocks():
            video_ids = frame["video_id"].array
            lut = np.array([video_codes.setdefault(str(c), len(video_codes)) for c in video_ids.categories],
                           dtype=np.int64)
            video = lut[np.asarray(video_ids.codes)]
            action = frame["action_id"].to_numpy()
            kf = _keyframe_codes(video, frame["timestamp"].to_numpy())
            in_map = np.isin(action, class_ids)
            unranked = in_map & np.isnan(frame["score"].to_numpy())
            if unranked.any():
                raise AvaInputError(det_name, first_line + int(np.flatnonzero(unranked)[0]),
                                    "score is NaN (the official evaluator ranks NaN scores by its heap's memory "
                                    "layout, not by score; refused)")
            keep = in_map.copy()
            if excluded:
                keep &= ~np.isin(kf, excluded_keyframes())
            unknown = keep & (video >= num_gt_videos)
            if counting:
                counts["out_of_map"] += int(len(action) - np.isin(action, class_ids).sum())
                if unknown.any():
                    at = int(np.flatnonzero(unknown)[0])
                    first_unknown.append((first_line + at, str(video_ids[at])))
                    if strict:
                        raise AvaInputError(det_name, first_line + at, f"video {video_ids[at]!r} is absent from "
                                            "the ground truth (without --strict: counted as false positives)")
                    counts["unknown"] += int(unknown.sum())
                    unknown_videos.update(str(v) for v in pd.unique(np.asarray(video_ids)[unknown]))
            idx = np.flatnonzero(keep)
            yield {"rank": ranks(kf[idx]),
                   "line": (first_line + idx).astype(np.int64), "action_id": action[idx].astype(np.int32),
                   **{c: frame[c].to_numpy()[idx] for c in ("score", "y1", "x1", "y2", "x2")}}
        counts["passes"] += 1

    capped = cap_detections(stream)
    messages: list[str] = tolerated.messages()
    for text in messages:
        warnings.warn(text, stacklevel=2)
    if counts["unknown"]:
        text = (f"{counts['unknown']} detection rows on {len(unknown_videos)} videos absent from the "
                f"ground truth (first: {first_unknown[0][1]!r}, line {first_unknown[0][0]}); counted as "
                "false positives, as the official evaluator does")
        messages.append(text)
        warnings.warn(text, stacklevel=2)
    valid = (capped["y1"] < capped["y2"]) & (capped["x1"] < capped["x2"])
    if not valid.all():
        capped = take_consuming(capped, np.flatnonzero(valid))
    del valid
    cls, scores, kf = capped["action_id"], capped["score"], ranks.keyframes(capped["rank"])
    tp = np.zeros(len(cls), dtype=bool)
    for a, b in _keyframe_chunks(kf, MATCHING_CHUNK_ROWS):
        box = np.stack([capped[c][a:b] for c in ("y1", "x1", "y2", "x2")], axis=1)
        tp[a:b] = true_positives(kf[a:b] * num_slots + cls[a:b], box, gt_key, gt_box)
    num_evaluated = len(cls)
    del capped, kf

    num_gt = np.bincount(gt["action_id"].to_numpy(), minlength=num_slots)
    by_class = np.argsort(cls, kind="stable")
    bounds = np.searchsorted(cls[by_class], np.arange(num_slots + 1))
    ap = np.full(num_class, np.nan)
    for class_id in range(1, num_class + 1):
        if num_gt[class_id] == 0:
            continue
        members = by_class[bounds[class_id]:bounds[class_id + 1]]
        ap[class_id - 1] = average_precision(scores[members], tp[members], int(num_gt[class_id]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no class has ground truth
        mean_ap = float(np.nanmean(ap))
    if math.isnan(mean_ap):
        messages.append("no label-map class has ground truth; mAP is NaN")
    return AvaResult(
        mAP=mean_ap,
        per_class_ap={i: float(ap[i - 1]) for i in names},
        class_names=names,
        warnings=tuple(messages),
        num_groundtruth_boxes=len(gt),
        num_evaluated_detections=num_evaluated,
        unknown_video_rows=counts["unknown"],
        out_of_map_detection_rows=counts["out_of_map"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m model.eval.ava -l LABELMAP -g GT -d DETECTIONS [-e EXCLUSIONS]``."""
    parser = argparse.ArgumentParser(prog="python -m model.eval.ava", description=__doc__.split("\n")[0])
    parser.add_argument("-l", "--labelmap", required=True, help="label map (.pbtxt)")
    parser.add_argument("-g", "--groundtruth", required=True, help="ground-truth CSV")
    parser.add_argument("-d", "--detections", required=True, help="detections CSV")
    parser.add_argument("-e", "--exclusions", help="excluded timestamps CSV")
    parser.add_argument("--json", action="store_true", help='print {"mAP":..., "per_class_ap":{...}}')
    parser.add_argument("--strict", action="store_true",
                        help="fail on the first row the official evaluator accepts although it is malformed "
                             "(inverted or NaN box, box outside [0, 1], negative timestamp, empty video id, "
                             "infinite score, no score column) or on a video absent from the ground truth; "
                             "without it such rows are handled as the official evaluator does, with a warning")
    parser.add_argument("--expected-classes", type=int, default=60,
                        help="entries the label map must have (0: any; default 60)")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = frame_map(args.groundtruth, args.detections, args.labelmap, args.exclusions,
                               strict=args.strict, expected_classes=args.expected_classes or None)
    except AvaInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for message in result.warnings:
        print(f"warning: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        pprint.pprint(result.official_metrics(), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
