"""Reading the Kinetics annotation CSVs and class lists, with errors naming file and line.

Official format (Kinetics-400/600/700 releases)::

    label,youtube_id,time_start,time_end,split
    abseiling,--33Lscn6sk,4,14,train

The test CSVs of some releases have no ``label`` column; their rows get label -1 and their
videos are looked up without a label folder. Videos live at
``<root>/videos/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4`` where
``<split>`` is ``train``, ``validate`` or ``test`` (the CSV's file name).

Class lists: ``<root>/annotations/classes.txt`` (one name per line, line i = class i), or
any file passed explicitly (400, 600 and 700 lists alike); without one, the sorted labels of
``train.csv`` (the order PySlowFast's class-id files use).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from model.data.errors import AnnotationError, EmptySplitError

__all__ = ["KineticsRow", "SPLIT_NAMES", "read_kinetics_csv", "read_class_list",
           "kinetics_video_path", "HELD_OUT_TEST_LABELS"]

#: JOBCONFIG split -> the official CSV / folder name.
SPLIT_NAMES = {"train": "train", "val": "validate", "validate": "validate", "test": "test"}
#: The test labels a dataset root may keep aside (relative path, the annotation CSV format with
#: labels): only the test server has them for the real dataset; the generated data writes them.
HELD_OUT_TEST_LABELS = "held_out/test.csv"
_COLUMNS = ["label", "youtube_id", "time_start", "time_end", "split"]


@dataclass(frozen=True)
class KineticsRow:
    label: str | None
    youtube_id: str
    time_start: int
    time_end: int
    line: int


def _int_field(path: Path, line: int, name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise AnnotationError(path, f"{value!r} is not an integer", line=line,
                              field=name) from None


def read_kinetics_csv(path: str | Path) -> list[KineticsRow]:
    """Parse one split's CSV; raises ``AnnotationError``/``EmptySplitError``."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found")
    with open(path, newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise EmptySplitError(path, "empty annotation file (no header, no rows)")
    header = [h.strip() for h in lines[0]]
    columns = _COLUMNS if header == _COLUMNS else _COLUMNS[1:]
    if header != columns:
        raise AnnotationError(path, f"header {header} is not {_COLUMNS} (or without label)",
                              line=1)
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        if not fields:
            continue
        if len(fields) != len(columns):
            raise AnnotationError(path, f"expected {len(columns)} fields, got {len(fields)}",
                                  line=number)
        record = dict(zip(columns, (f.strip() for f in fields)))
        start = _int_field(path, number, "time_start", record["time_start"])
        end = _int_field(path, number, "time_end", record["time_end"])
        if end <= start:
            raise AnnotationError(path, f"time_end {end} <= time_start {start}", line=number,
                                  field="time_end")
        if not record["youtube_id"]:
            raise AnnotationError(path, "empty youtube_id", line=number, field="youtube_id")
        rows.append(KineticsRow(record.get("label"), record["youtube_id"], start, end, number))
    if not rows:
        raise EmptySplitError(path, "split has no rows")
    return rows


def read_class_list(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "class list not found")
    names: list[str] = []
    first_line: dict[str, int] = {}
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        name = text.strip()
        if not name:
            continue
        if name in first_line:
            raise AnnotationError(path, f"class {name!r} already named on line {first_line[name]}",
                                  line=number)
        first_line[name] = number
        names.append(name)
    if not names:
        raise AnnotationError(path, "class list is empty")
    return names


def kinetics_video_path(root: Path, split: str, row: KineticsRow) -> Path:
    name = f"{row.youtube_id}_{row.time_start:06d}_{row.time_end:06d}.mp4"
    folder = root / "videos" / SPLIT_NAMES[split]
    return folder / row.label / name if row.label is not None else folder / name
