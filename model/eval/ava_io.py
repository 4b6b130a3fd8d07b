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
the file and the 1-based line instead of an ``AssertionError`` or a NumPy traceback. Rows the
official evaluator takes without a word although they are malformed (an inverted box, a box
outside [0, 1], a negative timestamp, ...) are handled as it handles them and counted in a
:class:`Tolerated`, one warning per kind; ``Tolerated(strict=True)`` refuses them instead.
Every rule, with what the official evaluator does: docs/evaluation.md, "Malformed rows".
Parsing is done by Arrow's CSV reader, whose float parser rounds correctly, so every number is
the float64 that Python's ``float()`` gives the official reader (the equality suite would see
a difference).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from model.data.ava_annotations import read_excluded as read_exclusions
from model.data.ava_labelmap import read_label_map
from model.data.errors import AvaInputError

__all__ = [
    "AvaInputError",
    "BOX_COLUMNS",
    "Tolerated",
    "DETECTION_COLUMNS",
    "read_labelmap",
    "read_ava_csv",
    "read_exclusions",
    "iter_detection_batches",
    "validate_frame",
]

BOX_COLUMNS = ("x1", "y1", "x2", "y2")
DETECTION_COLUMNS = ("video_id", "timestamp", *BOX_COLUMNS, "action_id", "score")
AVA_EVALUATED_CLASSES = 60
DETECTION_BLOCK_BYTES = 16 << 20  # ~260k rows per streamed block

PathLike = str | os.PathLike[str]


#: Timestamps are keyed in 32 bits (``video << 32 | timestamp + 2**31``); the official evaluator
#: takes any integer, so a timestamp beyond this range is the one integer it scores and we refuse.
TIMESTAMP_RANGE = (-(2**31), 2**31)
#: What stands for an action id outside the 32-bit range: never in a label map (ids are >= 1).
OUT_OF_RANGE_ACTION = -1


@dataclass
class Tolerated:
    """Malformed rows the official evaluator accepts without a word, counted per kind.

    ``check`` is given a mask of rows of one kind and what the official evaluator does with
    them; by default they are counted (``messages()``: one line per file and kind, with the
    count and the first line), with ``strict=True`` the earliest of them is an
    :class:`AvaInputError` when the frame is settled (``settle``).
    """

    strict: bool = False
    found: dict[tuple[str, str], list] = field(default_factory=dict)  # (file, kind) -> [count, line, what]
    _pending: list[tuple[int, str, str]] = field(default_factory=list)  # strict: (line, path, message)

    def check(self, path: object, bad: np.ndarray, first_line: int, kind: str, official: str) -> None:
        if not bad.any():
            return
        line = int(np.flatnonzero(bad)[0]) + first_line
        if self.strict:
            self._pending.append((line, str(path), f"{kind} (without --strict: {official}, "
                                                   "as the official evaluator does)"))
            return
        entry = self.found.setdefault((str(path), kind), [0, line, official])
        entry[0] += int(bad.sum())

    def settle(self) -> None:
        """Strict: raise for the earliest line checked since the last call."""
        if self._pending:
            line, path, message = min(self._pending, key=lambda item: item[0])
            self._pending.clear()
            raise AvaInputError(path, line, message)

    def messages(self) -> list[str]:
        return [f"{path}: {count} row{'s' if count != 1 else ''} with {kind} (first: line {line}); {official}, "
                "as the official evaluator does" for (path, kind), (count, line, official) in self.found.items()]


def read_labelmap(path: PathLike, *, expected_classes: int | None = AVA_EVALUATED_CLASSES) -> dict[int, str]:
    """:func:`model.data.ava_labelmap.read_label_map` (the one reader), expecting the 60
    evaluated classes unless told otherwise."""
    return read_label_map(path, expected_classes=expected_classes)


def _arrow_types(names: list[str]) -> dict[str, pa.DataType]:
    types = {"video_id": pa.dictionary(pa.int32(), pa.string()), "timestamp": pa.int64(),
             "action_id": pa.int64()}
    return {n: types.get(n, pa.float64()) for n in names}


def _arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """Columns as NumPy arrays (one concatenation per column, no pandas block consolidation);
    video ids as a Categorical over the unified Arrow dictionary."""
    columns: dict[str, object] = {}
    for name in table.column_names:
        column = table.column(name)
        if name == "video_id":
            column = column.unify_dictionaries()
            dictionary = column.chunk(0).dictionary if column.num_chunks else pa.array([], pa.string())
            codes = (np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in column.chunks])
                     if column.num_chunks else np.zeros(0, dtype=np.int32))
            columns[name] = pd.Categorical.from_codes(  # Arrow's indices are valid by construction
                codes, categories=pd.Index(dictionary.to_pylist(), dtype=str), validate=False)
        else:
            columns[name] = column.to_numpy()
    return pd.DataFrame(columns, copy=False)


def _first_line_fields(path: PathLike, scored: bool) -> int:
    """Field count of line 1 (7 or 8; detections without a score are 7 fields, which the
    official reader scores 1.0); rejects empty files."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
    except OSError as exc:
        raise AvaInputError(path, None, f"cannot read: {exc}") from exc
    if not first.strip():
        raise AvaInputError(path, None if not first else 1, "empty file" if not first else "empty first line")
    fields = first.count(b",") + 1
    if fields not in (7, 8):
        raise AvaInputError(path, 1, f"expected 7 or 8 fields{' (the 8th a score)' if scored else ''}, got {fields}")
    return fields


def _scoreless(frame: pd.DataFrame, path: object, first_line: int, tolerated: Tolerated) -> pd.DataFrame:
    """Detections of 7 fields: the official reader gives every row the score 1.0."""
    tolerated.check(path, np.ones(len(frame), dtype=bool), first_line, "no score (7 fields)",
                    "every row scored 1.0")
    return frame.assign(score=np.ones(len(frame)))


def _csv_options(names: list[str], kept: list[str], block_size: int | None = None) -> dict[str, object]:
    read = (pacsv.ReadOptions(column_names=names) if block_size is None
            else pacsv.ReadOptions(column_names=names, block_size=block_size))
    return {"read_options": read,
            "parse_options": pacsv.ParseOptions(ignore_empty_lines=False),
            "convert_options": pacsv.ConvertOptions(column_types=_arrow_types(kept), include_columns=kept,
                                                    null_values=[], strings_can_be_null=False)}


def iter_detection_batches(path: PathLike, *, block_size: int | None = None, tolerated: Tolerated | None = None
                           ) -> Iterator[tuple[int, pd.DataFrame]]:
    """Stream a detections CSV as ``(first_line, frame)`` blocks of whole lines, each validated
    like :func:`read_ava_csv`. Blocks are cut here rather than by Arrow's streaming reader,
    which buffers the whole file ahead; memory stays at about one block."""
    tolerated = tolerated if tolerated is not None else Tolerated(strict=True)
    fields = _first_line_fields(path, scored=True)
    names = list(DETECTION_COLUMNS[:fields])
    options = _csv_options(names, names)
    size = block_size or DETECTION_BLOCK_BYTES
    line = 1
    with open(path, "rb") as handle:
        carry = b""
        while True:
            data = handle.read(size)
            at_end = not data
            data = carry + data
            if not data:
                return
            cut = len(data) if at_end else data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than the block: read on
                carry = data
                continue
            chunk, carry = data[:cut], data[cut:]
            try:
                table = pacsv.read_csv(pa.BufferReader(chunk), **options)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise _locate_bad_field(path, exc, fields, fields) from None
            del chunk
            rows = table.num_rows
            frame = _arrow_to_frame(table)
            del table
            if fields == 7:
                frame = _scoreless(frame, path, line, tolerated)
            yield line, validate_frame(frame, path, scored=True, first_line=line, tolerated=tolerated)
            line += rows
            if at_end:
                return


def read_ava_csv(path: PathLike, *, scored: bool, tolerated: Tolerated | None = None) -> pd.DataFrame:
    """Read a ground-truth (``scored=False``) or detection (``scored=True``) CSV.

    Returns a frame with columns ``video_id`` (categorical str), ``timestamp`` and
    ``action_id`` (int64), ``x1, y1, x2, y2, score`` (float64; score 1.0 for ground truth, as
    the official reader), rows in file order: row ``i`` is line ``i + 1``. Parsed by Arrow's
    multithreaded CSV reader (correctly rounded floats, dictionary-encoded video ids, about
    50 bytes a row); any parse failure is re-examined line by line to name the culprit.
    Malformed rows the official evaluator accepts go to ``tolerated`` (refused when it is None).
    """
    tolerated = tolerated if tolerated is not None else Tolerated(strict=True)
    fields = _first_line_fields(path, scored)
    names = list(DETECTION_COLUMNS[:fields])
    kept = names if scored else names[:7]
    try:
        table = pacsv.read_csv(path, **_csv_options(names, kept))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _locate_bad_field(path, exc, fields, len(kept)) from None
    frame = _arrow_to_frame(table)
    del table
    if scored and fields == 7:
        frame = _scoreless(frame, path, 1, tolerated)
    return validate_frame(frame, path, scored=scored, tolerated=tolerated)


def _locate_bad_field(path: PathLike, exc: Exception, fields: int, checked: int) -> AvaInputError:
    """Re-read line by line to name the first line with a wrong field count or a bad field
    among the first ``checked`` columns (the ground truth's ``person_id`` is not used)."""
    with open(path, newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) != fields:
                mixed = " (the official evaluator scores 7-field rows 1.0 among 8-field ones; this reader needs " \
                        "one width per file)" if sorted((fields, len(row))) == [7, 8] else ""
                return AvaInputError(path, number, f"expected {fields} fields like line 1, got {len(row)}{mixed}")
            for column, value in zip(DETECTION_COLUMNS[1:checked], row[1:checked]):
                if column in ("timestamp", "action_id"):
                    if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
                        return AvaInputError(path, number, f"{column} {value!r} is not an integer")
                    if "+" in value:
                        return AvaInputError(path, number, f"{column} {value!r} has a plus sign (the official "
                                             "evaluator reads it as an integer; this reader refuses it)")
                else:
                    try:
                        float(value)
                    except ValueError:
                        return AvaInputError(path, number, f"{column} {value!r} is not a number")
    return AvaInputError(path, None, f"cannot parse: {exc}")


def _first_bad(path: object, bad: np.ndarray, message: str, first_line: int) -> None:
    if bad.any():
        raise AvaInputError(path, int(np.flatnonzero(bad)[0]) + first_line, message)


def validate_frame(frame: pd.DataFrame, path: object, *, scored: bool, first_line: int = 1,
                   tolerated: Tolerated | None = None) -> pd.DataFrame:
    """Check and normalise a detection/ground-truth frame, read from a file or built in memory.

    Errors name row ``i + first_line`` (the file line for frames read from a file). Refused
    always, as the official evaluator fails on them too: missing video ids, non-integer
    timestamps and action ids, non-numeric boxes and scores, inverted ground-truth boxes. Also
    refused, although the official evaluator takes them: timestamps beyond 32 bits.
    Handled as the official evaluator handles them and reported to ``tolerated`` (which
    refuses them when strict, or when it is None): empty video ids, negative timestamps, action
    ids that are negative or beyond 32 bits (outside every label map: dropped), boxes outside
    [0, 1] or with infinite coordinates (scored as given), inverted detection boxes and
    detection boxes with a NaN coordinate (dropped after the 50-row cap), infinite scores.
    Zero-area detection boxes pass silently: the official evaluator drops them, and so does
    ``frame_map``. NaN scores are checked by ``frame_map`` on the label-map rows only, since
    the official reader skips other rows before it reads their score.
    Arrays already of the right dtype are used as they are, not copied.
    """
    tolerated = tolerated if tolerated is not None else Tolerated(strict=True)
    kind = "detection" if scored else "ground-truth"
    required = list(DETECTION_COLUMNS if scored else DETECTION_COLUMNS[:-1])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AvaInputError(path, None, f"missing columns {missing}")
    columns: dict[str, object] = {}
    video = frame["video_id"].array
    if not isinstance(video, pd.Categorical):
        video = pd.Categorical(pd.Series(video).astype("string"))
    if video.categories.dtype != object and not pd.api.types.is_string_dtype(video.categories.dtype):
        video = video.rename_categories([str(c) for c in video.categories])
    codes = np.asarray(video.codes)
    _first_bad(path, codes < 0, "empty row or missing video id", first_line)
    empty_codes = [i for i, c in enumerate(video.categories) if str(c) == ""]
    if empty_codes:
        tolerated.check(path, np.isin(codes, empty_codes), first_line, "an empty video id",
                        "scored as a video named ''")
    columns["video_id"] = video
    for column in ("timestamp", "action_id"):
        values = frame[column]
        if pd.api.types.is_integer_dtype(values.dtype):
            array = values.to_numpy().astype(np.int64, copy=False)
        else:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            _first_bad(path, ~np.isfinite(numbers) | (numbers != np.round(numbers)),
                       f"{column} is not an integer", first_line)
            _first_bad(path, np.abs(numbers) >= 2.0**62, f"{column} is beyond 62 bits", first_line)
            array = numbers.astype(np.int64)
        if column == "timestamp":
            low, high = TIMESTAMP_RANGE
            _first_bad(path, (array < low) | (array >= high), "timestamp beyond 32 bits (the official evaluator "
                       "takes any integer; this one keys keyframes in 32 bits and refuses it)", first_line)
            tolerated.check(path, array < 0, first_line, "a negative timestamp", "scored as its own keyframe")
        else:
            out_of_range = (array < 0) | (array >= 2**31)
            tolerated.check(path, out_of_range, first_line, "an action id that is negative or beyond 32 bits",
                            "dropped, as every id outside the label map")
            if out_of_range.any():
                array = np.where(out_of_range, OUT_OF_RANGE_ACTION, array)
        columns[column] = array
    for column in (*BOX_COLUMNS, "score"):
        if column == "score" and not scored:
            columns["score"] = np.ones(len(frame))
            continue
        values = frame[column]
        if values.dtype != np.float64:
            values = pd.to_numeric(values, errors="coerce")
            _first_bad(path, values.isna().to_numpy() & frame[column].notna().to_numpy(),
                       f"{column} is not a number", first_line)
        columns[column] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not _plain_boxes_and_scores(columns, scored):
        _check_boxes_and_scores(columns, path, scored=scored, first_line=first_line, tolerated=tolerated)
    tolerated.settle()
    return pd.DataFrame({c: columns[c] for c in DETECTION_COLUMNS}, copy=False)


def _plain_boxes_and_scores(columns: dict[str, np.ndarray], scored: bool) -> bool:
    """True when no box or score needs a closer look: every coordinate in [0, 1] (which
    excludes NaN and infinities), no inverted box, every score finite. One reduction per
    column instead of the masks of :func:`_check_boxes_and_scores`; well-formed files, the
    usual case, take only this path."""
    for column in BOX_COLUMNS:
        values = columns[column]
        if len(values) and not (values.min() >= 0.0 and values.max() <= 1.0):
            return False
    if (columns["x2"] < columns["x1"]).any() or (columns["y2"] < columns["y1"]).any():
        return False
    return not scored or bool(np.isfinite(columns["score"]).all())


def _check_boxes_and_scores(columns: dict[str, np.ndarray], path: object, *, scored: bool, first_line: int,
                            tolerated: Tolerated) -> None:
    """The box and score rules of :func:`validate_frame`, row by row."""
    kind = "detection" if scored else "ground-truth"
    boxes = np.stack([columns[c] for c in BOX_COLUMNS], axis=1)
    nan_box = np.isnan(boxes).any(axis=1)
    if scored:
        if tolerated.strict:  # without --strict, frame_map refuses NaN scores on label-map rows only
            _first_bad(path, np.isnan(columns["score"]), "score is NaN", first_line)
        tolerated.check(path, np.isinf(columns["score"]), first_line, "an infinite score", "ranked as given")
        tolerated.check(path, nan_box, first_line, "a NaN box coordinate", "dropped after the 50-row cap")
    else:
        _first_bad(path, nan_box, "NaN box coordinate in the ground truth (the official evaluator's IoU with it "
                   "is NaN and its matching then depends on NumPy's argmax of NaN; refused)", first_line)
    inverted = (columns["x2"] < columns["x1"]) | (columns["y2"] < columns["y1"])
    if scored:
        tolerated.check(path, inverted, first_line, "an inverted box (x2 < x1 or y2 < y1)",
                        "dropped after the 50-row cap")
    else:
        _first_bad(path, inverted, "inverted ground-truth box (x2 < x1 or y2 < y1); the official evaluator "
                   "fails on it too", first_line)
    finite = np.isfinite(boxes)
    tolerated.check(path, (~finite & ~np.isnan(boxes)).any(axis=1), first_line,
                    f"an infinite {kind} box coordinate", "scored as given")
    tolerated.check(path, (finite & ((boxes < 0.0) | (boxes > 1.0))).any(axis=1), first_line,
                    f"a {kind} box outside [0, 1]", "scored as given")
