"""Typed errors for bad data on disk.

Every error names the file and, where it applies, the line and field, so a user can open the
file and fix it without reading a traceback. They subclass ``ValueError`` so callers that
only care about "bad input" can catch one type.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DataError",
    "AnnotationError",
    "AvaInputError",
    "VideoDecodeError",
    "TooManyBadVideosError",
    "EmptySplitError",
]


class DataError(ValueError):
    """Base class: something on disk cannot be used as data."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class AnnotationError(DataError):
    """An annotation file (CSV, pbtxt, JSON) is malformed.

    ``line`` is 1-based and counts the header when there is one; ``field`` names the column
    or JSON key at fault.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.line = line
        self.field = field
        where = ""
        if line is not None:
            where += f"line {line}: "
        if field is not None:
            where += f"field {field!r}: "
        super().__init__(path, where + message)


class AvaInputError(AnnotationError):
    """A malformed AVA file: label map, excluded timestamps, ground-truth or detection CSV.

    Raised by the one AVA file reader (:mod:`model.data.ava_labelmap`,
    :func:`model.data.ava_annotations.read_excluded`) and by the evaluator
    (:mod:`model.eval.ava_io`). ``path`` and ``line`` (1-based, ``None`` for the whole file)
    locate it; the message reads ``FILE:LINE: message``, the form compilers and the
    evaluator's CLI print, so an editor can jump to it.
    """

    def __init__(self, path: object, line: int | None, message: str, *, field: str | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        ValueError.__init__(self, f"{where}: {message}")


class VideoDecodeError(DataError):
    """A video file is missing, truncated, not a video, or has no decodable frame."""


class TooManyBadVideosError(DataError):
    """More unusable videos were met than the configured cap allows.

    Skipping a few broken downloads is normal for Kinetics; skipping many means the dataset
    on disk is wrong, and training on what is left would silently change the experiment.
    """


class EmptySplitError(DataError):
    """A split has no usable sample (empty CSV, or every row filtered out)."""
