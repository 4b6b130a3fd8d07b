"""Readers for the AVA evaluation files: label map, box CSVs, excluded timestamps.

The formats are those of the official ActivityNet evaluator (``get_ava_performance.py``):

* label map: a ``.pbtxt`` text file with ``name: "..."`` / ``id: N`` (or ``label_id: N``)
  lines, one ``item`` per class;
* ground truth / detections: headerless CSV rows
  ``video_id,timestamp,x1,y1,x2,y2,action_id[,person_id_or_score]``; boxes are normalised
  to [0, 1]. Ground truth has 7 or 8 columns (the 8th, ``person_id``, is unused); detections
  have 8, the last being the score;
* excluded timestamps: ``video_id,timestamp`` rows.

Unlike the official reader, bad input is rejected with an :class:`AvaInputError` naming
the file and the 1-based line instead of an ``AssertionError`` or a NumPy traceback.
Parsing is done by pandas' C reader with ``float_precision="round_trip"`` so every number
is the same float64 that Python's ``float()`` gives the official reader.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "AvaInputError",
    "BOX_COLUMNS",
    "DETECTION_COLUMNS",
    "read_labelmap",
    "read_ava_csv",
    "read_exclusions",
    "validate_frame",
]

BOX_COLUMNS = ("x1", "y1", "x2", "y2")
DETECTION_COLUMNS = ("video_id", "timestamp", *BOX_COLUMNS, "action_id", "score")
AVA_EVALUATED_CLASSES = 60

PathLike = str | os.PathLike[str]


class AvaInputError(ValueError):
    """A malformed AVA evaluation input; ``path`` and ``line`` (1-based) locate it."""

    def __init__(self, path: object, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


_NAME = re.compile(r'^\s*(?:display_)?name:\s*"(?P<name>[^"]*)"')
_ID = re.compile(r"^\s*(?:label_)?id:\s*(?P<id>\S+)\s*$")


def read_labelmap(path: PathLike, *, expected_classes: int | None = AVA_EVALUATED_CLASSES) -> dict[int, str]:
    """Return ``{action_id: name}`` in file order.

    As the official reader, an ``id`` line closes an entry with the last ``name`` seen.
    ``expected_classes`` (60 for AVA v2.x) guards against evaluating on the wrong file;
    pass ``None`` to accept any size.
    """
    labels: dict[int, str] = {}
    name: str | None = None
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AvaInputError(path, None, f"cannot read label map: {exc}") from exc
    for number, text in enumerate(lines, start=1):
        if m := _NAME.match(text):
            if text.lstrip().startswith("display_name"):
                continue
            name = m.group("name")
        elif m := _ID.match(text):
            try:
                class_id = int(m.group("id"))
            except ValueError:
                raise AvaInputError(path, number, f"label id {m.group('id')!r} is not an integer") from None
            if name is None:
                raise AvaInputError(path, number, f"label id {class_id} has no name before it")
            if class_id in labels:
                raise AvaInputError(path, number, f"label id {class_id} appears twice")
            labels[class_id] = name
            name = None
    if not labels:
        raise AvaInputError(path, None, "label map has no entries")
    if expected_classes is not None and len(labels) != expected_classes:
        raise AvaInputError(
            path, None, f"label map has {len(labels)} entries, expected {expected_classes}"
        )
    return labels


def _keyframe_timestamp(values: pd.Series, path: PathLike, lines: np.ndarray) -> np.ndarray:
    """Timestamps as int64; the official key is ``"%04d" % int(timestamp)``."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < 0) | (numbers >= 2**31)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AvaInputError(path, int(lines[i]), f"timestamp {values.iloc[i]!r} is not an integer second")
    return numbers.astype(np.int64)


def read_ava_csv(path: PathLike, *, scored: bool) -> pd.DataFrame:
    """Read a ground-truth (``scored=False``) or detection (``scored=True``) CSV.

    Returns a frame with columns ``video_id`` (str), ``timestamp`` (int64), ``x1, y1, x2, y2``
    (float64), ``action_id`` (int64), ``score`` (float64; 1.0 for ground truth, as the official
    reader) and ``line`` (1-based line in the file), rows in file order.
    """
    names = list(DETECTION_COLUMNS)
    try:
        if os.path.getsize(path) == 0:
            raise AvaInputError(path, None, "empty file")
    except OSError as exc:
        raise AvaInputError(path, None, f"cannot read: {exc}") from exc
    try:
        frame = pd.read_csv(
            path,
            header=None,
            names=names,
            dtype={"video_id": str},
            float_precision="round_trip",
            skip_blank_lines=False,
            keep_default_na=False,
            na_values={c: [""] for c in names if c != "video_id"},
            engine="c",
        )
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise AvaInputError(
            path, int(line.group(1)) if line else None, f"wrong number of columns ({exc})"
        ) from None
    except ValueError as exc:  # a non-number in a float column
        raise _locate_bad_number(path, exc) from None
    frame["line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    if frame.empty:
        raise AvaInputError(path, None, "empty file")
    if not scored:
        frame["score"] = 1.0
    return validate_frame(frame, path, scored=scored)


def _locate_bad_number(path: PathLike, exc: Exception) -> AvaInputError:
    """Re-read as text to name the first line holding a value that is not a number."""
    text = pd.read_csv(path, header=None, names=list(DETECTION_COLUMNS), dtype=str,
                       skip_blank_lines=False, keep_default_na=False)
    for column in ("timestamp", *BOX_COLUMNS, "action_id", "score"):
        values = text[column]
        coerced = pd.to_numeric(values.replace("", np.nan), errors="coerce")
        bad = coerced.isna() & (values != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            return AvaInputError(path, i + 1, f"{column} {values.iloc[i]!r} is not a number")
    return AvaInputError(path, None, f"cannot parse: {exc}")


def validate_frame(frame: pd.DataFrame, path: object, *, scored: bool) -> pd.DataFrame:
    """Check and normalise a detection/ground-truth frame (from a file or built in memory).

    Rejects missing fields, non-integer timestamps/action ids, non-finite scores, boxes outside
    [0, 1] and inverted boxes (x2 < x1 or y2 < y1). Zero-area boxes are accepted: the official
    evaluator drops them from detections, and so does :func:`model.eval.ava.frame_map`.
    """
    missing = [c for c in DETECTION_COLUMNS[:-1] if c not in frame.columns]
    if scored and "score" not in frame.columns:
        missing.append("score")
    if missing:
        raise AvaInputError(path, None, f"missing columns {missing}")
    lines = (frame["line"].to_numpy(dtype=np.int64) if "line" in frame.columns
             else np.arange(1, len(frame) + 1, dtype=np.int64))
    out = pd.DataFrame({"video_id": frame["video_id"].astype(str).to_numpy()})
    blank = frame["video_id"].isna().to_numpy() | (out["video_id"].to_numpy() == "")
    if blank.any():
        raise AvaInputError(path, int(lines[np.flatnonzero(blank)[0]]), "empty row or empty video id")
    out["timestamp"] = _keyframe_timestamp(frame["timestamp"], path, lines)
    for column in BOX_COLUMNS:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AvaInputError(path, int(lines[i]), f"{column} {frame[column].iloc[i]!r} is not a number")
        outside = (values < 0.0) | (values > 1.0)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise AvaInputError(path, int(lines[i]), f"{column}={values[i]!r} is outside [0, 1]")
        out[column] = values
    inverted = (out["x2"].to_numpy() < out["x1"].to_numpy()) | (out["y2"].to_numpy() < out["y1"].to_numpy())
    if inverted.any():
        i = int(np.flatnonzero(inverted)[0])
        raise AvaInputError(path, int(lines[i]), "inverted box (x2 < x1 or y2 < y1)")
    action = pd.to_numeric(frame["action_id"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(action) | (action != np.round(action))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AvaInputError(path, int(lines[i]), f"action id {frame['action_id'].iloc[i]!r} is not an integer")
    out["action_id"] = action.astype(np.int64)
    if scored:
        score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(score)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AvaInputError(path, int(lines[i]), f"score {frame['score'].iloc[i]!r} is not a finite number")
        out["score"] = score
    else:
        out["score"] = 1.0
    out["line"] = lines
    return out


def read_exclusions(path: PathLike) -> set[tuple[str, int]]:
    """Excluded keyframes as ``{(video_id, second)}``; ``"0902"`` and ``"902"`` are the same."""
    excluded: set[tuple[str, int]] = set()
    try:
        with open(path, newline="") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if len(row) != 2:
                    raise AvaInputError(path, number, f"expected 2 columns (video_id,timestamp), got {len(row)}")
                try:
                    second = int(row[1])
                except ValueError:
                    raise AvaInputError(path, number, f"timestamp {row[1]!r} is not an integer") from None
                excluded.add((row[0], second))
    except OSError as exc:
        raise AvaInputError(path, None, f"cannot read: {exc}") from exc
    return excluded
