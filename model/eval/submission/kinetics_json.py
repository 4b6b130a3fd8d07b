"""Kinetics challenge JSON (ActivityNet format).

``{"version": ..., "results": {video_id: [{"label": name, "score": s}, ... 5]},
"external_data": {"used": bool, "details": str}}``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from model.eval.submission.report import ValidationReport, write_validated

__all__ = ["KINETICS_TOP_K", "validate_kinetics_submission", "write_kinetics_submission",
           "score_kinetics_submission"]

KINETICS_TOP_K = 5


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return None if at < 0 else text.count("\n", 0, at) + 1


def validate_kinetics_submission(path: str | os.PathLike[str], *, test_video_ids: Iterable[str],
                                 class_names: Iterable[str]) -> ValidationReport:
    """Check a Kinetics challenge JSON: schema, every test video exactly once with 5 distinct
    known labels and finite scores, nothing else."""
    report = ValidationReport(path=str(path), format="kinetics")
    expected = set(map(str, test_video_ids))
    classes = set(map(str, class_names))
    report.expected = len(expected)
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        report.add(None, f"cannot read: {exc}")
        return report
    duplicates: list[str] = []

    def no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [k for k, _ in pairs]
        duplicates.extend(k for i, k in enumerate(keys) if k in keys[:i])
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as exc:
        report.add(exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")
        return report
    for key in duplicates:
        report.add(_line_of(text, f'"{key}"'), f"key {key!r} appears more than once")
    if not isinstance(data, dict):
        report.add(1, "top level must be a JSON object")
        return report
    for key in ("version", "results", "external_data"):
        if key not in data:
            report.add(None, f"missing top-level field {key!r}")
    external = data.get("external_data")
    if external is not None and (not isinstance(external, dict) or not isinstance(external.get("used"), bool)
                                 or not isinstance(external.get("details", ""), str)):
        report.add(_line_of(text, '"external_data"'),
                   'external_data must be {"used": true|false, "details": "..."}')
    results = data.get("results")
    if not isinstance(results, dict):
        if results is not None:
            report.add(_line_of(text, '"results"'), "results must be an object keyed by video id")
        return report
    report.rows = len(results)
    for video, entries in results.items():
        line = _line_of(text, f'"{video}"')
        if video not in expected:
            report.add(line, f"video {video!r} is not a test video")
        if not isinstance(entries, list) or len(entries) != KINETICS_TOP_K:
            report.add(line, f"video {video!r}: expected a list of {KINETICS_TOP_K} predictions")
            continue
        labels = []
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) != {"label", "score"}:
                report.add(line, f'video {video!r}: each prediction must be {{"label", "score"}}')
                break
            label, score = entry["label"], entry["score"]
            labels.append(label)
            if label not in classes:
                report.add(line, f"video {video!r}: unknown label {label!r}")
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                report.add(line, f"video {video!r}: score {score!r} is not a finite number")
        if len(set(map(str, labels))) != len(labels):
            report.add(line, f"video {video!r}: a label appears twice")
    for video in sorted(expected - set(results)):
        report.add(None, f"test video {video!r} has no prediction")
    report.covered = len(expected & set(results))
    return report


def score_kinetics_submission(path: str | os.PathLike[str], labels: dict[str, str]) -> dict[str, float]:
    """Top-1/top-5 accuracy and error and the challenge error (their mean), as fractions, of a
    submission file against ``labels`` (video id -> class name), as the challenge scores it: a
    video's predictions ranked by score (ties in file order), a hit when the label is first /
    among the five; a labelled video without predictions is a miss. Validate the file first
    (:func:`validate_kinetics_submission`); this reads it as valid."""
    if not labels:
        raise ValueError("no labelled videos to score against")
    results = json.loads(Path(path).read_text())["results"]
    top1 = top5 = 0
    for video, label in labels.items():
        entries = results.get(video) or []
        ranked = [e["label"] for e in sorted(entries, key=lambda e: -float(e["score"]))][:KINETICS_TOP_K]
        top1 += bool(ranked) and ranked[0] == label
        top5 += label in ranked
    top1_rate, top5_rate = top1 / len(labels), top5 / len(labels)
    return {"top1": top1_rate, "top5": top5_rate, "top1_error": 1.0 - top1_rate, "top5_error": 1.0 - top5_rate,
            "challenge_error": ((1.0 - top1_rate) + (1.0 - top5_rate)) / 2.0}


def write_kinetics_submission(per_video_probs: pd.DataFrame, path: str | os.PathLike[str], *,
                              test_video_ids: Iterable[str], class_names: Iterable[str],
                              external_data_used: bool, external_data_details: str = "",
                              version: str = "KINETICS-700 2019") -> ValidationReport:
    """Write the top-5 labels per video of ``per_video_probs`` (index: video ids, columns:
    class names, e.g. from ``ensemble_kinetics``); validated first, replaced atomically."""
    names = list(map(str, class_names))
    probs = per_video_probs.to_numpy(dtype=np.float64)
    columns = np.asarray(per_video_probs.columns.astype(str))
    top = np.argsort(-probs, axis=1, kind="stable")[:, :KINETICS_TOP_K]
    results = {str(video): [{"label": str(columns[j]), "score": float(probs[i, j])} for j in top[i]]
               for i, video in enumerate(per_video_probs.index)}
    document = {"version": version, "results": results,
                "external_data": {"used": bool(external_data_used), "details": external_data_details}}
    text = json.dumps(document, indent=1) + "\n"
    return write_validated(path, text, lambda probe: validate_kinetics_submission(probe, test_video_ids=test_video_ids, class_names=names))
