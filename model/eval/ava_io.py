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
Parsing is done by pandas' C reader, whose float parser (pandas 3.1) gives the same float64
as Python's ``float()`` in the official reader: the equality suite would see any difference.
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


_DTYPES = {"video_id": "category", "timestamp": np.int64, "x1": np.float64, "y1": np.float64,
           "x2": np.float64, "y2": np.float64, "action_id": np.int64, "score": np.float64}


def read_ava_csv(path: PathLike, *, scored: bool) -> pd.DataFrame:
    """Read a ground-truth (``scored=False``) or detection (``scored=True``) CSV.

    Returns a frame with columns ``video_id`` (categorical str), ``timestamp`` and
    ``action_id`` (int64), ``x1, y1, x2, y2, score`` (float64; score 1.0 for ground truth, as
    the official reader), rows in file order: row ``i`` is line ``i + 1``. Video ids are
    categorical so a few million rows cost ~50 bytes each.
    """
    try:
        if os.path.getsize(path) == 0:
            raise AvaInputError(path, None, "empty file")
    except OSError as exc:
        raise AvaInputError(path, None, f"cannot read: {exc}") from exc
    names = list(DETECTION_COLUMNS)
    try:
        frame = pd.read_csv(path, header=None, names=names, dtype=_DTYPES,
                            skip_blank_lines=False, keep_default_na=False, na_values=[""], engine="c")
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise AvaInputError(path, int(line.group(1)) if line else None,
                            f"wrong number of columns ({exc})") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a field that is not a number
        raise _locate_bad_field(path, exc, scored) from None
    if frame.empty:
        raise AvaInputError(path, None, "empty file")
    if not scored:
        frame["score"] = 1.0
    return validate_frame(frame, path, scored=scored)


def _locate_bad_field(path: PathLike, exc: Exception, scored: bool) -> AvaInputError:
    """Re-read as text to name the first line whose field is missing or not a number."""
    text = pd.read_csv(path, header=None, names=list(DETECTION_COLUMNS), dtype=str,
                       skip_blank_lines=False, keep_default_na=False)
    for column in DETECTION_COLUMNS[: 8 if scored else 7]:
        values = text[column]
        empty = (values == "").to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            return AvaInputError(path, i + 1, f"missing field {column!r} (empty or short row)")
        if column == "video_id":
            continue
        if column in ("timestamp", "action_id"):
            bad = ~values.str.fullmatch(r"\s*[+-]?\d+\s*").to_numpy(dtype=bool)
            what = "an integer"
        else:
            bad = pd.to_numeric(values, errors="coerce").isna().to_numpy()
            what = "a number"
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return AvaInputError(path, i + 1, f"{column} {values.iloc[i]!r} is not {what}")
    return AvaInputError(path, None, f"cannot parse: {exc}")


def _first_bad(path: object, bad: np.ndarray, message: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AvaInputError(path, i + 1, message.format(i=i))


def validate_frame(frame: pd.DataFrame, path: object, *, scored: bool) -> pd.DataFrame:
    """Check and normalise a detection/ground-truth frame, read from a file or built in memory.

    Errors name row ``i + 1`` (the file line for frames read by :func:`read_ava_csv`).
    Rejects empty video ids, negative or non-integer timestamps and action ids, non-finite
    numbers, boxes outside [0, 1] and inverted boxes (x2 < x1 or y2 < y1). Zero-area boxes pass:
    the official evaluator drops them from detections, and so does ``frame_map``.
    Columns already of the right dtype are not copied.
    """
    required = list(DETECTION_COLUMNS if scored else DETECTION_COLUMNS[:-1])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AvaInputError(path, None, f"missing columns {missing}")
    out = frame[[c for c in DETECTION_COLUMNS if c in frame.columns]].reset_index(drop=True)
    if not scored:
        out["score"] = 1.0
    video = out["video_id"]
    if not isinstance(video.dtype, pd.CategoricalDtype):
        video = video.astype("string").astype("category")
    video = video.cat.rename_categories([str(c) for c in video.cat.categories])
    blank = video.cat.codes.to_numpy() < 0
    empty_codes = [i for i, c in enumerate(video.cat.categories) if c.strip() == ""]
    if empty_codes:
        blank |= np.isin(video.cat.codes.to_numpy(), empty_codes)
    _first_bad(path, blank, "empty row or empty video id")
    out["video_id"] = video
    for column in ("timestamp", "action_id"):
        values = out[column]
        if not pd.api.types.is_integer_dtype(values.dtype):
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            _first_bad(path, ~np.isfinite(numbers) | (numbers != np.round(numbers)),
                       f"{column} is not an integer")
            values = pd.Series(numbers.astype(np.int64))
        array = values.to_numpy(dtype=np.int64)
        _first_bad(path, (array < 0) | (array >= 2**31), f"{column} is negative or too large")
        out[column] = array
    for column in (*BOX_COLUMNS, "score"):
        values = out[column]
        if values.dtype != np.float64:
            values = pd.to_numeric(values, errors="coerce")
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        _first_bad(path, ~np.isfinite(array), f"{column} is not a finite number")
        if column != "score":
            _first_bad(path, (array < 0.0) | (array > 1.0), f"{column} is outside [0, 1]")
        out[column] = array
    _first_bad(path, (out["x2"].to_numpy() < out["x1"].to_numpy()) | (out["y2"].to_numpy() < out["y1"].to_numpy()),
               "inverted box (x2 < x1 or y2 < y1)")
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
