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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.eval.ava_cap import KeyframeRanks, cap_detections, take_consuming
from model.eval.ava_io import (
    AvaInputError,
    Tolerated,
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
from model.eval.ava_stream import DetectionStream, KeyframeCodes, keyframe_codes

__all__ = ["AvaResult", "AvaInputError", "GroundTruth", "frame_map", "prepare_groundtruth", "match_detections",
           "per_class_ap", "read_labelmap", "read_ava_csv", "read_exclusions", "main"]

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


@dataclass(frozen=True)
class GroundTruth:
    """Evaluated ground-truth boxes sorted by ``key`` = keyframe code * ``num_slots`` + class,
    then in the official within-keyframe order; ``per_class`` counts boxes per class id."""

    key: np.ndarray
    box: np.ndarray
    per_class: np.ndarray
    num_slots: int

    @property
    def num_boxes(self) -> int:
        return len(self.key)


def _read_groundtruth(source: Source, tolerated: Tolerated) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return validate_frame(source, "<groundtruth DataFrame>", scored=False, tolerated=tolerated)
    return read_ava_csv(source, scored=False, tolerated=tolerated)


def prepare_groundtruth(gt: pd.DataFrame, class_ids: np.ndarray, keyframes: KeyframeCodes,
                        num_slots: int) -> GroundTruth:
    """Label-map rows of non-excluded keyframes, keyed and ordered for :func:`match_detections`."""
    kf = keyframe_codes(gt["video_id"].array.codes, gt["timestamp"].to_numpy())
    rows = np.isin(gt["action_id"].to_numpy(), class_ids)
    excluded = keyframes.excluded()
    if len(excluded):
        rows &= ~np.isin(kf, excluded)
    gt = gt[rows].reset_index(drop=True)
    kf = kf[rows]
    order = order_groundtruth(gt, kf, num_slots)
    action = gt["action_id"].to_numpy()
    return GroundTruth(key=(kf * num_slots + action)[order], box=gt[["y1", "x1", "y2", "x2"]].to_numpy()[order],
                       per_class=np.bincount(action, minlength=num_slots), num_slots=num_slots)


def match_detections(capped: dict[str, np.ndarray], ranks: KeyframeRanks, gt: GroundTruth
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(action_id, score, true_positive)`` of the capped detections, in the official order.

    Boxes with ``y1 >= y2`` or ``x1 >= x2`` are dropped first, as the official evaluator does
    after its cap. ``capped`` is consumed (its columns are freed as they are used).
    """
    valid = (capped["y1"] < capped["y2"]) & (capped["x1"] < capped["x2"])
    if not valid.all():
        capped = take_consuming(capped, np.flatnonzero(valid))
    del valid
    cls, scores, kf = capped["action_id"], capped["score"], ranks.keyframes(capped["rank"])
    tp = np.zeros(len(cls), dtype=bool)
    for a, b in _keyframe_chunks(kf, MATCHING_CHUNK_ROWS):
        box = np.stack([capped[c][a:b] for c in ("y1", "x1", "y2", "x2")], axis=1)
        tp[a:b] = true_positives(kf[a:b] * gt.num_slots + cls[a:b], box, gt.key, gt.box)
    capped.clear()
    return cls, scores, tp


def per_class_ap(cls: np.ndarray, scores: np.ndarray, tp: np.ndarray, gt: GroundTruth) -> np.ndarray:
    """VOC AP of classes 1..max id (index ``id - 1``); NaN for classes without ground truth."""
    num_class = gt.num_slots - 1
    by_class = np.argsort(cls, kind="stable")
    bounds = np.searchsorted(cls[by_class], np.arange(gt.num_slots + 1))
    ap = np.full(num_class, np.nan)
    for class_id in np.flatnonzero(gt.per_class[1:]) + 1:
        members = by_class[bounds[class_id]:bounds[class_id + 1]]
        ap[class_id - 1] = average_precision(scores[members], tp[members], int(gt.per_class[class_id]))
    return ap


def _label_names(labelmap: str | os.PathLike[str] | Mapping[int, str], expected_classes: int | None
                 ) -> dict[int, str]:
    names = (dict(labelmap) if isinstance(labelmap, Mapping)
             else read_labelmap(labelmap, expected_classes=expected_classes))
    bad_ids = [i for i in names if i < 1]
    if bad_ids:
        raise AvaInputError(labelmap if not isinstance(labelmap, Mapping) else "<labelmap>",
                            None, f"label ids must be >= 1, got {bad_ids}")
    return names


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

    Steps: :func:`prepare_groundtruth`, a :class:`~model.eval.ava_stream.DetectionStream`
    through the 50-row cap, :func:`match_detections`, :func:`per_class_ap`.
    """
    names = _label_names(labelmap, expected_classes)
    excluded = (set(exclusions) if isinstance(exclusions, set)
                else read_exclusions(exclusions) if exclusions is not None else set())
    tolerated = Tolerated(strict=strict)
    gt_frame = _read_groundtruth(groundtruth_csv, tolerated)
    class_ids = np.fromiter(names, dtype=np.int64)
    keyframes = KeyframeCodes(gt_frame["video_id"].array.categories, excluded)
    stream = DetectionStream(detections_csv, class_ids, keyframes, tolerated=tolerated, strict=strict)
    gt = prepare_groundtruth(gt_frame, class_ids, keyframes, max(names) + 1)
    del gt_frame

    capped = cap_detections(stream)
    messages: list[str] = tolerated.messages()
    for text in messages:
        warnings.warn(text, stacklevel=2)
    if (text := stream.unknown_video_warning()) is not None:
        messages.append(text)
        warnings.warn(text, stacklevel=2)
    cls, scores, tp = match_detections(capped, stream.ranks, gt)
    ap = per_class_ap(cls, scores, tp, gt)
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
        num_groundtruth_boxes=gt.num_boxes,
        num_evaluated_detections=len(cls),
        unknown_video_rows=stream.unknown_video_rows,
        out_of_map_detection_rows=stream.out_of_map_rows,
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
