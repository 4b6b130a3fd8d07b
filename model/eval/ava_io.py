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
Parsing is done by Arrow's CSV reader, whose float parser rounds correctly, so every number is
the float64 that Python's ``float()`` gives the official reader (the equality suite would see
a difference).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = [
    "AvaInputError",
    "BOX_COLUMNS",
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
            columns[name] = pd.Categorical.from_codes(codes, categories=pd.Index(dictionary.to_pylist(), dtype=str))
        else:
            columns[name] = column.to_numpy()
    return pd.DataFrame(columns, copy=False)


def _first_line_fields(path: PathLike, scored: bool) -> int:
    """Field count of line 1 (7 or 8 for ground truth, 8 for detections); rejects empty files."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
    except OSError as exc:
        raise AvaInputError(path, None, f"cannot read: {exc}") from exc
    if not first.strip():
        raise AvaInputError(path, None if not first else 1, "empty file" if not first else "empty first line")
    fields = first.count(b",") + 1
    if fields not in ((8,) if scored else (7, 8)):
        expected = "8 fields (with a score)" if scored else "7 or 8 fields"
        raise AvaInputError(path, 1, f"expected {expected}, got {fields}")
    return fields


def _csv_options(names: list[str], kept: list[str], block_size: int | None = None) -> dict[str, object]:
    read = (pacsv.ReadOptions(column_names=names) if block_size is None
            else pacsv.ReadOptions(column_names=names, block_size=block_size))
    return {"read_options": read,
            "parse_options": pacsv.ParseOptions(ignore_empty_lines=False),
            "convert_options": pacsv.ConvertOptions(column_types=_arrow_types(kept), include_columns=kept,
                                                    null_values=[], strings_can_be_null=False)}


def iter_detection_batches(path: PathLike, *, block_size: int | None = None
                           ) -> Iterator[tuple[int, pd.DataFrame]]:
    """Stream a detections CSV as ``(first_line, frame)`` blocks of whole lines, each validated
    like :func:`read_ava_csv`. Blocks are cut here rather than by Arrow's streaming reader,
    which buffers the whole file ahead; memory stays at about one block."""
    _first_line_fields(path, scored=True)
    names = list(DETECTION_COLUMNS)
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
                raise _locate_bad_field(path, exc, 8, 8) from None
            del chunk
            rows = table.num_rows
            frame = _arrow_to_frame(table)
            del table
            yield line, validate_frame(frame, path, scored=True, first_line=line)
            line += rows
            if at_end:
                return


def read_ava_csv(path: PathLike, *, scored: bool) -> pd.DataFrame:
    """Read a ground-truth (``scored=False``) or detection (``scored=True``) CSV.

    Returns a frame with columns ``video_id`` (categorical str), ``timestamp`` and
    ``action_id`` (int64), ``x1, y1, x2, y2, score`` (float64; score 1.0 for ground truth, as
    the official reader), rows in file order: row ``i`` is line ``i + 1``. Parsed by Arrow's
    multithreaded CSV reader (correctly rounded floats, dictionary-encoded video ids, about
    50 bytes a row); any parse failure is re-examined line by line to name the culprit.
    """
    fields = _first_line_fields(path, scored)
    names = list(DETECTION_COLUMNS[:fields])
    kept = names if scored else names[:7]
    try:
        table = pacsv.read_csv(path, **_csv_options(names, kept))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _locate_bad_field(path, exc, fields, len(kept)) from None
    frame = _arrow_to_frame(table)
    del table
    return validate_frame(frame, path, scored=scored)


def _locate_bad_field(path: PathLike, exc: Exception, fields: int, checked: int) -> AvaInputError:
    """Re-read line by line to name the first line with a wrong field count or a bad field
    among the first ``checked`` columns (the ground truth's ``person_id`` is not used)."""
    with open(path, newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) != fields:
                return AvaInputError(path, number, f"expected {fields} fields like line 1, got {len(row)}")
            for column, value in zip(DETECTION_COLUMNS[1:checked], row[1:checked]):
                if column in ("timestamp", "action_id"):
                    if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
                        return AvaInputError(path, number, f"{column} {value!r} is not an integer")
                else:
                    try:
                        float(value)
                    except ValueError:
                        return AvaInputError(path, number, f"{column} {value!r} is not a number")
    return AvaInputError(path, None, f"cannot parse: {exc}")


def _first_bad(path: object, bad: np.ndarray, message: str, first_line: int) -> None:
    if bad.any():
        raise AvaInputError(path, int(np.flatnonzero(bad)[0]) + first_line, message)


def validate_frame(frame: pd.DataFrame, path: object, *, scored: bool, first_line: int = 1) -> pd.DataFrame:
    """Check and normalise a detection/ground-truth frame, read from a file or built in memory.

    Errors name row ``i + first_line`` (the file line for frames read from a file).
    Rejects empty video ids, negative or non-integer timestamps and action ids, non-finite
    numbers, boxes outside [0, 1] and inverted boxes (x2 < x1 or y2 < y1). Zero-area boxes pass:
    the official evaluator drops them from detections, and so does ``frame_map``.
    Arrays already of the right dtype are used as they are, not copied.
    """
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
    blank = codes < 0
    empty_codes = [i for i, c in enumerate(video.categories) if str(c).strip() == ""]
    if empty_codes:
        blank |= np.isin(codes, empty_codes)
    _first_bad(path, blank, "empty row or empty video id", first_line)
    columns["video_id"] = video
    for column in ("timestamp", "action_id"):
        values = frame[column]
        if pd.api.types.is_integer_dtype(values.dtype):
            array = values.to_numpy().astype(np.int64, copy=False)
        else:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            _first_bad(path, ~np.isfinite(numbers) | (numbers != np.round(numbers)),
                       f"{column} is not an integer", first_line)
            array = numbers.astype(np.int64)
        _first_bad(path, (array < 0) | (array >= 2**31), f"{column} is negative or too large", first_line)
        columns[column] = array
    for column in (*BOX_COLUMNS, "score"):
        if column == "score" and not scored:
            columns["score"] = np.ones(len(frame))
            continue
        values = frame[column]
        if values.dtype != np.float64:
            values = pd.to_numeric(values, errors="coerce")
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        _first_bad(path, ~np.isfinite(array), f"{column} is not a finite number", first_line)
        if column != "score":
            _first_bad(path, (array < 0.0) | (array > 1.0), f"{column} is outside [0, 1]", first_line)
        columns[column] = array
    _first_bad(path, (columns["x2"] < columns["x1"]) | (columns["y2"] < columns["y1"]),
               "inverted box (x2 < x1 or y2 < y1)", first_line)
    return pd.DataFrame({c: columns[c] for c in DETECTION_COLUMNS}, copy=False)


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
