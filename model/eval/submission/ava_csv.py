"""AVA test-server CSV: ``video_id,timestamp,x1,y1,x2,y2,action_id,score``.

Boxes with 3 decimals, only the evaluated action ids (60 for AVA v2.x), rows only on test
keyframes, no duplicate (keyframe, box, action).

A test keyframe without any row is a warning, not a problem: the official evaluator (and the
test server built on it) scores such a file, the keyframe simply contributes no detection, and
a detector threshold can legitimately leave a keyframe empty (every person proposal of it
scored below the threshold). ``strict=True`` (``--strict``, as for ``python -m model.eval.ava``)
refuses it instead, one problem per keyframe.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from model.eval.ava_io import read_labelmap
from model.eval.submission.report import ValidationReport, write_validated

__all__ = ["AVA_TEST_SECONDS", "read_test_keyframes", "validate_ava_submission", "write_ava_submission"]

AVA_TEST_SECONDS = range(902, 1799)  # AVA keyframes: seconds 902..1798 of each movie
_BOX_FIELD = re.compile(r"^(?:0|1)(?:\.\d{1,3})?$")


def read_test_keyframes(source: str | os.PathLike[str] | Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """Test keyframes from a ``video_id,timestamp`` CSV, or a file of bare video ids (one per
    line: every second in ``AVA_TEST_SECONDS``), or an iterable of ``(video_id, second)``."""
    if not isinstance(source, (str, os.PathLike)):
        return {(str(v), int(t)) for v, t in source}
    keyframes: set[tuple[str, int]] = set()
    with open(source, newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) == 1 and row[0].strip():
                keyframes.update((row[0].strip(), s) for s in AVA_TEST_SECONDS)
            elif len(row) == 2:
                try:
                    keyframes.add((row[0], int(row[1])))
                except ValueError:
                    raise ValueError(f"{source}:{number}: timestamp {row[1]!r} is not an integer") from None
            elif row:
                raise ValueError(f"{source}:{number}: expected video_id[,timestamp], got {len(row)} fields")
    return keyframes


def _labels(labelmap: str | os.PathLike[str] | Mapping[int, str]) -> dict[int, str]:
    return dict(labelmap) if isinstance(labelmap, Mapping) else read_labelmap(labelmap)


def validate_ava_submission(path: str | os.PathLike[str], *, labelmap: str | os.PathLike[str] | Mapping[int, str],
                            test_keyframes: str | os.PathLike[str] | Iterable[tuple[str, int]],
                            strict: bool = False) -> ValidationReport:
    """Check an AVA test-server CSV line by line (streaming; millions of rows are fine).

    Test keyframes without a row are one warning (their count and the first of them), or with
    ``strict=True`` one problem each (see the module docstring)."""
    report = ValidationReport(path=str(path), format="ava")
    ids = set(_labels(labelmap))
    expected = read_test_keyframes(test_keyframes)
    report.expected = len(expected)
    seen: dict[tuple, int] = {}
    covered: set[tuple[str, int]] = set()
    try:
        handle = open(path, newline="")
    except OSError as exc:
        report.add(None, f"cannot read: {exc}")
        return report
    with handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            report.rows += 1
            if len(row) != 8:
                report.add(number, f"expected 8 fields, got {len(row)}")
                continue
            video, second, *box, action, score = row
            try:
                key = (video, int(second))
            except ValueError:
                report.add(number, f"timestamp {second!r} is not an integer")
                continue
            if key not in expected:
                report.add(number, f"keyframe {video},{second} is not a test keyframe")
            else:
                covered.add(key)
            bad_box = [b for b in box if not _BOX_FIELD.match(b) or float(b) > 1.0]
            if bad_box:
                report.add(number, f"box field {bad_box[0]!r} is not a number in [0, 1] with at most 3 decimals")
            elif float(box[2]) < float(box[0]) or float(box[3]) < float(box[1]):
                report.add(number, "inverted box (x2 < x1 or y2 < y1)")
            try:
                action_id = int(action)
                if action_id not in ids:
                    report.add(number, f"action id {action_id} is not one of the {len(ids)} evaluated ids")
            except ValueError:
                report.add(number, f"action id {action!r} is not an integer")
            try:
                if not math.isfinite(float(score)):
                    raise ValueError
            except ValueError:
                report.add(number, f"score {score!r} is not a finite number")
            dup_key = (video, second.lstrip("0") or "0", *box, action)
            if dup_key in seen:
                report.add(number, f"duplicate of line {seen[dup_key]} (same keyframe, box and action)")
            else:
                seen[dup_key] = number
    if report.rows == 0:
        report.add(None, "empty file")
    _report_uncovered(report, sorted(expected - covered), strict)
    report.covered = len(covered)
    return report


def _report_uncovered(report: ValidationReport, uncovered: list[tuple[str, int]], strict: bool) -> None:
    if strict:
        for video, second in uncovered:
            report.add(None, f"test keyframe {video},{second:04d} has no detection")
    elif uncovered:
        video, second = uncovered[0]
        count = len(uncovered)
        report.warn(f"{count} test keyframe{'s' if count != 1 else ''} {'have' if count != 1 else 'has'} no "
                    f"detection (first: {video},{second:04d}); scored without detections, as the official "
                    "evaluator and the test server do (--strict refuses them)")


def write_ava_submission(detections: pd.DataFrame, path: str | os.PathLike[str], *,
                         labelmap: str | os.PathLike[str] | Mapping[int, str],
                         test_keyframes: str | os.PathLike[str] | Iterable[tuple[str, int]],
                         strict: bool = False) -> ValidationReport:
    """Write the evaluated classes of ``detections`` (columns video_id, timestamp, x1, y1, x2,
    y2, action_id, score) in the test-server format, after validating the content; raises
    :class:`SubmissionError` (nothing written) if it would not validate. Test keyframes
    without a detection are warnings in the returned report unless ``strict``."""
    ids = np.fromiter(_labels(labelmap), dtype=np.int64)
    frame = detections[np.isin(detections["action_id"].to_numpy(), ids)]
    lines = frame["video_id"].astype(str) + "," + frame["timestamp"].astype(np.int64).map("{:04d}".format)
    for column in ("x1", "y1", "x2", "y2"):
        lines = lines + "," + frame[column].astype(np.float64).map("{:.3f}".format)
    lines = lines + "," + frame["action_id"].astype(np.int64).astype(str) + "," + \
        frame["score"].astype(np.float64).map("{:.6f}".format)
    text = "\n".join(lines.tolist()) + "\n"
    return write_validated(path, text, lambda probe: validate_ava_submission(
        probe, labelmap=labelmap, test_keyframes=test_keyframes, strict=strict))
