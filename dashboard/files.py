"""Files the dashboard reads from disk, only ever from under the runs root.

Paths come from the database (submission files, manifests, predictions). A row that points
outside the runs root (`../../etc/passwd`, an absolute path elsewhere, a symlink that leaves
the tree) is refused with `UnsafePathError`, never opened or offered for download.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["UnsafePathError", "resolve_under_root", "read_bytes_under_root", "read_json_under_root",
           "kinetics_confusion", "MAX_DOWNLOAD_BYTES"]

MAX_DOWNLOAD_BYTES = 512 << 20  # a Kinetics-700 test JSON is ~100 MB; refuse anything absurd


class UnsafePathError(ValueError):
    """A database path that is not a regular file under the runs root."""

    def __init__(self, path: str, root: Path, why: str) -> None:
        self.path, self.root = path, root
        super().__init__(f"{path!r}: {why} (runs root {root})")


def resolve_under_root(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """The real path of `path` (relative paths are taken from `root`), if it stays under `root`."""
    root_real = Path(root).resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root_real / candidate
    real = candidate.resolve()
    if not real.is_relative_to(root_real):
        raise UnsafePathError(str(path), root_real, "outside the runs root")
    if not real.is_file():
        raise UnsafePathError(str(path), root_real, "not a file")
    return real


def read_bytes_under_root(path: str, root: str | os.PathLike[str]) -> bytes:
    real = resolve_under_root(path, root)
    size = real.stat().st_size
    if size > MAX_DOWNLOAD_BYTES:
        raise UnsafePathError(path, Path(root), f"{size} bytes, over the {MAX_DOWNLOAD_BYTES} limit")
    return real.read_bytes()


def read_json_under_root(path: str, root: str | os.PathLike[str]) -> Any:
    real = resolve_under_root(path, root)
    try:
        return json.loads(real.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafePathError(path, Path(root), f"not JSON ({exc})") from exc


def kinetics_confusion(path: str, root: str | os.PathLike[str], *, top_classes: int = 10) -> pd.DataFrame:
    """Confusion counts among the `top_classes` most frequent true classes.

    Reads a Kinetics predictions file as the evaluate job writes it (`.npz` with per-video
    `probs` [N, C], `labels` [N], `classes` [C] and `video_ids` [N]); returns a long frame (true, predicted, count) for a heatmap. Predictions
    outside the top classes are counted under "other".
    """
    real = resolve_under_root(path, root)
    with np.load(real, allow_pickle=False) as archive:
        if "probs" not in archive or "labels" not in archive:
            raise UnsafePathError(path, Path(root), "npz lacks 'probs' or 'labels'")
        scores, labels = archive["probs"], archive["labels"].astype(np.int64)
        names = [str(n) for n in archive["classes"]] if "classes" in archive else None
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise UnsafePathError(path, Path(root), f"scores {scores.shape} and labels {labels.shape} disagree")
    predicted = scores.argmax(axis=1)
    classes, counts = np.unique(labels, return_counts=True)
    top = classes[np.argsort(-counts, kind="stable")[:top_classes]]
    label_of = (lambda c: names[c] if names and 0 <= c < len(names) else f"class {c}")
    keep = np.isin(labels, top)
    rows: dict[tuple[str, str], int] = {}
    for true, pred in zip(labels[keep], predicted[keep]):
        key = (label_of(int(true)), label_of(int(pred)) if pred in top else "other")
        rows[key] = rows.get(key, 0) + 1
    return pd.DataFrame([(t, p, n) for (t, p), n in sorted(rows.items())],
                        columns=["true", "predicted", "count"])
