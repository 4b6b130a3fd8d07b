"""Prediction files of the job contract, and their scores where labels exist.

- AVA: ``predictions/<split>.csv``, the official detection format (headerless
  ``video_id,timestamp,x1,y1,x2,y2,action_id,score``, boxes normalised, 3 decimals), all 80
  classes (the evaluator and the submission writer keep the 60 evaluated ones).
- Kinetics: ``predictions/<split>.npz`` with ``video_ids`` (V,), ``probs`` (V, C) mean
  softmax over the views, ``classes`` (C,) class names, ``labels`` (V,) class index or -1.
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from contract.files import atomic_write, atomic_write_bytes
from contract.metric_names import AP_PREFIX, FRAME_MAP
from jobs.errors import BadConfigError, BadDataError
from model.data.ava_labelmap import AVA_EVALUATED_LABEL_MAP_FILE

__all__ = ["ava_annotation_paths", "evaluation_labelmap", "read_kinetics_predictions",
           "score_ava", "score_kinetics", "write_ava_detections", "write_kinetics_predictions"]


def write_ava_detections(detections: pd.DataFrame, path: Path) -> None:
    frame = detections
    lines = frame["video_id"].astype(str) + "," + \
        frame["timestamp"].astype(np.int64).map("{:04d}".format)
    for column in ("x1", "y1", "x2", "y2"):
        lines = lines + "," + frame[column].astype(np.float64).map("{:.3f}".format)
    lines = lines + "," + frame["action_id"].astype(np.int64).astype(str) + "," + \
        frame["score"].astype(np.float64).map("{:.6f}".format)
    atomic_write_bytes(path, ("\n".join(lines.tolist()) + "\n").encode() if len(frame) else b"")


# The planner writes ``data.labelmap`` into the ensemble and export configs only; the training
# and evaluation configs have none (adding it would change their content hashes), so scoring
# from those falls back to the official 60-class evaluation map's name, in ``<root>/annotations``.


def evaluation_labelmap(labelmap: str | None, where: str | Path = "config") -> str:
    """``data.labelmap`` of a config that must carry it (export): the AVA 60-class evaluation
    map, a file name in ``<root>/annotations``; a config without it is refused, naming the field."""
    if not labelmap:
        raise BadConfigError(f"{where}: field 'data.labelmap' is missing: the AVA evaluation needs its "
                             "60-class label map")
    return str(labelmap)


def ava_annotation_paths(data_cfg: Mapping[str, Any], split: str) -> dict[str, Path]:
    """Ground truth, 60-class label map and exclusions of an AVA split (official names)."""
    annotations = Path(data_cfg["root"]) / "annotations"
    version = "v2.2"
    labelmap = annotations / str(data_cfg.get("labelmap") or AVA_EVALUATED_LABEL_MAP_FILE)
    return {"groundtruth": annotations / f"ava_{split}_{version}.csv",
            "labelmap": labelmap,
            "exclusions": annotations / f"ava_{split}_excluded_timestamps_{version}.csv"}


def score_ava(detections: pd.DataFrame | Path, data_cfg: Mapping[str, Any],
              split: str) -> dict[str, float]:
    """Frame-mAP@0.5 on the 60 evaluated classes: ``frame_map`` and ``ap/<action_id>``.

    Values are fractions in [0, 1], the metric-name contract of docs/orchestrator.md that
    the leaderboard and the dashboard read (they show percent).
    """
    from model.eval.ava import frame_map

    paths = ava_annotation_paths(data_cfg, split)
    if not paths["groundtruth"].is_file():
        raise BadDataError(f"{paths['groundtruth']}: ground truth of split {split!r} not found")
    exclusions = paths["exclusions"] if paths["exclusions"].is_file() else None
    result = frame_map(paths["groundtruth"], detections, paths["labelmap"], exclusions)
    metrics = {FRAME_MAP: float(result.mAP)}
    for class_id, ap in result.per_class_ap.items():
        if not math.isnan(ap):
            metrics[f"{AP_PREFIX}{class_id}"] = float(ap)
    return metrics


def write_kinetics_predictions(path: Path, video_ids: np.ndarray, probs: np.ndarray,
                               classes: list[str], labels: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, video_ids=np.asarray(video_ids, dtype=str), probs=probs.astype(np.float64),
             classes=np.asarray(classes, dtype=str), labels=np.asarray(labels, dtype=np.int64))
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def read_kinetics_predictions(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """-> (probabilities indexed by video id with class-name columns, labels (V,))."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            frame = pd.DataFrame(npz["probs"], index=pd.Index(npz["video_ids"].astype(str)),
                                 columns=pd.Index(npz["classes"].astype(str)))
            return frame, npz["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise BadDataError(f"{path}: not a Kinetics predictions file ({exc})") from exc


def score_kinetics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float] | None:
    """Top-1/top-5 accuracy and the challenge error (fractions); None when there are no labels."""
    from model.eval.kinetics import challenge_metrics

    if len(labels) == 0 or (labels < 0).any():
        return None
    m = challenge_metrics(probs, labels)
    return {name: float(m[name]) for name in
            ("top1", "top5", "top1_error", "top5_error", "challenge_error")}
