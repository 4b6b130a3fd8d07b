"""Reading AVA v2.2 annotation files, with errors naming the file, line and field.

Formats (the official release, and PySlowFast's predicted boxes):

- ground truth ``ava_{train,val}_v2.2.csv``, no header, one row per (box, action)::

      video_id,timestamp,x1,y1,x2,y2,action_id,person_id

  boxes normalised to [0, 1] with x1 <= x2 and y1 <= y2; ``person_id`` may be absent
  (7 fields, as in v2.1 test-format files). Rows with the same box on the same keyframe are
  one person with several actions.
- excluded timestamps ``ava_*_excluded_timestamps_v2.2.csv``: ``video_id,timestamp``.
- predicted boxes (PySlowFast ``ava_detection_*_boxes_and_labels.csv``): as the ground truth
  with ``action_id`` empty (or an id) and a detector ``score`` in the last field.
- person proposals as a COCO detection-results JSON (a list of ``{"image_id",
  "category_id", "bbox": [x, y, w, h] pixels, "score"}``) plus a COCO image index JSON
  whose images carry ``id``, ``file_name`` = ``"<video_id>,<timestamp>"``, ``width`` and
  ``height``; read with pycocotools ``COCO`` + ``loadRes``. Only category 1 (person) is kept.

- held-out test ground truth ``held_out/ava_test_v2.2.csv`` under a dataset root
  (``HELD_OUT_TEST_GT``): the test labels, in the ground-truth format, that only the test
  server has for the real dataset. The generated data writes them there, out of
  ``annotations/`` where the jobs read, so that a submission can be scored as the server
  would score it; real AVA has no such file.

Keys are ``(video_id, timestamp)`` with an int timestamp, so ``0902`` and ``902`` agree.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from model.data.errors import AnnotationError, AvaInputError

__all__ = ["AvaBox", "Keyframe", "read_ava_boxes", "read_excluded", "read_coco_proposals", "HELD_OUT_TEST_GT"]

Keyframe = tuple[str, int]
HELD_OUT_TEST_GT = "held_out/ava_test_v2.2.csv"  # relative to a dataset root


@dataclass
class AvaBox:
    box: tuple[float, float, float, float]    # normalised x1, y1, x2, y2
    line: int                                 # first line (or JSON index) that gave it
    actions: list[int] = field(default_factory=list)
    score: float = 1.0


def _rows(path: Path):
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found")
    with open(path, newline="", encoding="utf-8") as handle:
        for number, fields in enumerate(csv.reader(handle), start=1):
            if fields and any(f.strip() for f in fields):
                yield number, [f.strip() for f in fields]


def _number(path: Path, line: int, name: str, text: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise AnnotationError(path, f"{text!r} is not a number", line=line, field=name) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise AnnotationError(path, f"{text!r} is not finite", line=line, field=name)
    return value


def _box(path: Path, line: int, fields: list[str]) -> tuple[float, float, float, float]:
    names = ("x1", "y1", "x2", "y2")
    x1, y1, x2, y2 = (_number(path, line, n, t) for n, t in zip(names, fields))
    for name, value in zip(names, (x1, y1, x2, y2)):
        if not 0.0 <= value <= 1.0:
            raise AnnotationError(path, f"{value} is outside [0, 1]", line=line, field=name)
    if x1 > x2:
        raise AnnotationError(path, f"x1 {x1} > x2 {x2}", line=line, field="x1")
    if y1 > y2:
        raise AnnotationError(path, f"y1 {y1} > y2 {y2}", line=line, field="y1")
    return x1, y1, x2, y2


def read_ava_boxes(path: str | Path, *, label_ids: set[int] | None,
                   predicted: bool = False) -> dict[Keyframe, list[AvaBox]]:
    """Ground-truth (``predicted=False``) or predicted-boxes CSV -> boxes per keyframe.

    ``label_ids``: the ids of the label map; an action outside it is an error (``None``
    accepts any id).
    """
    path = Path(path)
    keyframes: dict[Keyframe, dict[tuple, AvaBox]] = {}
    expected = (8,) if predicted else (7, 8)
    for line, fields in _rows(path):
        if len(fields) not in expected:
            raise AnnotationError(path, f"expected {' or '.join(map(str, expected))} fields, "
                                  f"got {len(fields)}", line=line)
        video_id = fields[0]
        if not video_id:
            raise AnnotationError(path, "empty video_id", line=line, field="video_id")
        timestamp = _number(path, line, "timestamp", fields[1], int)
        box = _box(path, line, fields[2:6])
        action = None
        if fields[6] or not predicted:
            action = _number(path, line, "action_id", fields[6], int)
            if label_ids is not None and action not in label_ids:
                raise AnnotationError(path, f"action id {action} is not in the label map",
                                      line=line, field="action_id")
        score = _number(path, line, "score", fields[7]) if predicted else 1.0
        per_key = keyframes.setdefault((video_id, timestamp), {})
        entry = per_key.setdefault(box, AvaBox(box, line, score=score))
        if action is not None and action not in entry.actions:
            entry.actions.append(action)
    return {key: list(boxes.values()) for key, boxes in keyframes.items()}


def read_excluded(path: str | Path) -> set[Keyframe]:
    """Excluded keyframes ``{(video_id, second)}`` of a ``video_id,timestamp`` CSV.

    The one reader of this file, for training and evaluation (``model.eval.ava_io.read_exclusions``
    is it), with the official semantics (``get_ava_performance.read_exclusions``): every row
    has exactly 2 fields (a blank line too, which the official reader fails on), the
    timestamp is read by ``int()``, so ``0902`` and ``902`` are one keyframe, and the video id
    is taken as written. Errors are :class:`AvaInputError` naming the line.
    """
    excluded: set[Keyframe] = set()
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if len(row) != 2:
                    raise AvaInputError(path, number, f"expected 2 columns (video_id,timestamp), got {len(row)}")
                try:
                    second = int(row[1])
                except ValueError:
                    raise AvaInputError(path, number, f"timestamp {row[1]!r} is not an integer",
                                        field="timestamp") from None
                excluded.add((row[0], second))
    except FileNotFoundError:
        raise AvaInputError(path, None, "excluded timestamps file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AvaInputError(path, None, f"cannot read: {exc}") from exc
    return excluded


def _load_json(path: Path):
    if not path.is_file():
        raise AnnotationError(path, "proposals file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AnnotationError(path, f"invalid JSON ({error.msg})", line=error.lineno) from None


def _image_index(path: Path) -> dict[int, dict]:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationError(path, "expected a COCO object with an 'images' list",
                              field="images")
    images = {}
    for position, image in enumerate(data["images"]):
        where = f"images[{position}]"
        for key in ("id", "file_name", "width", "height"):
            if not isinstance(image, dict) or key not in image:
                raise AnnotationError(path, f"{where} has no {key!r}", field=key)
        video_id, _, stamp = str(image["file_name"]).rpartition(",")
        if not video_id or not stamp.strip().isdigit():
            raise AnnotationError(path, f"{where}: file_name {image['file_name']!r} is not "
                                  "'<video_id>,<timestamp>'", field="file_name")
        if not (image["width"] > 0 and image["height"] > 0):
            raise AnnotationError(path, f"{where}: non-positive size", field="width")
        images[image["id"]] = {**image, "key": (video_id, int(stamp))}
    return images


def read_coco_proposals(results_path: str | Path,
                        images_path: str | Path) -> dict[Keyframe, list[AvaBox]]:
    """COCO detection results + image index -> normalised person boxes per keyframe."""
    from pycocotools.coco import COCO

    results_path, images_path = Path(results_path), Path(images_path)
    images = _image_index(images_path)
    results = _load_json(results_path)
    if not isinstance(results, list):
        raise AnnotationError(results_path, "expected a list of detections")
    for position, det in enumerate(results):
        for key in ("image_id", "category_id", "bbox", "score"):
            if not isinstance(det, dict) or key not in det:
                raise AnnotationError(results_path, f"detection [{position}] has no {key!r}",
                                      field=key)
        bbox = det["bbox"]
        if (not isinstance(bbox, list) or len(bbox) != 4
                or not all(isinstance(v, (int, float)) for v in bbox) or min(bbox[2:]) < 0):
            raise AnnotationError(results_path, f"detection [{position}]: bbox {bbox!r} is not "
                                  "[x, y, w, h] with w, h >= 0", field="bbox")
        if not isinstance(det["score"], (int, float)):
            raise AnnotationError(results_path, f"detection [{position}]: non-numeric score",
                                  field="score")
        if det["image_id"] not in images:
            raise AnnotationError(results_path, f"detection [{position}]: image_id "
                                  f"{det['image_id']!r} not in {images_path.name}",
                                  field="image_id")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        index = COCO()
        index.dataset = {"images": list(images.values()), "annotations": [],
                         "categories": [{"id": 1, "name": "person"}]}
        index.createIndex()
        detections = index.loadRes(results) if results else None
    proposals: dict[Keyframe, list[AvaBox]] = {}
    if detections is None:
        return proposals
    for position, ann in enumerate(detections.dataset["annotations"]):
        if ann["category_id"] != 1:
            continue
        image = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        width, height = image["width"], image["height"]
        box = (min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0),
               min(max((x + w) / width, 0.0), 1.0), min(max((y + h) / height, 0.0), 1.0))
        proposals.setdefault(image["key"], []).append(
            AvaBox(box, position, score=float(ann["score"])))
    return proposals
