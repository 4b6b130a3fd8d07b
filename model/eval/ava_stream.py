"""Detection rows as the cap sees them: label-map ids only, excluded keyframes removed,
each keyframe ranked by first appearance.

One :class:`DetectionStream` serves one evaluation. Called, it yields row blocks for
:func:`model.eval.ava_cap.cap_detections`, which may call it twice (the second pass re-reads
the file for keyframes with tied scores); rows outside the label map and rows on videos the
ground truth does not know are counted on the first pass only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from model.eval.ava_cap import KeyframeRanks, Rows
from model.eval.ava_io import AvaInputError, Tolerated, iter_detection_batches, validate_frame

__all__ = ["DetectionStream", "KeyframeCodes", "keyframe_codes"]

Source = str | os.PathLike[str] | pd.DataFrame


def keyframe_codes(video: np.ndarray, timestamp: np.ndarray | int) -> np.ndarray:
    """One int64 per keyframe: ``video << 32 | (timestamp + 2**31)``; timestamps may be
    negative (the official evaluator keys them as ``"%s,%04d"``), validated to 32 bits."""
    return np.left_shift(np.asarray(video, dtype=np.int64), 32) | (np.asarray(timestamp, dtype=np.int64) + 2**31)


class KeyframeCodes:
    """Video ids to small integers (ground-truth videos first, then videos met in the
    detections), and the excluded keyframes as codes of :func:`keyframe_codes`."""

    def __init__(self, groundtruth_videos: pd.Index, excluded: set[tuple[str, int]]) -> None:
        self.videos: dict[str, int] = {str(v): i for i, v in enumerate(groundtruth_videos)}
        self.num_groundtruth_videos = len(self.videos)
        self._excluded = excluded

    def codes_of(self, categories: pd.Index) -> np.ndarray:
        """Codes of ``categories``, giving new videos the next free codes."""
        return np.array([self.videos.setdefault(str(c), len(self.videos)) for c in categories], dtype=np.int64)

    def excluded(self) -> np.ndarray:
        """Excluded keyframes on the videos coded so far (an exclusion on a video never seen
        cannot match a row)."""
        pairs = [(self.videos[v], t) for v, t in self._excluded if v in self.videos]
        return keyframe_codes(np.array([v for v, _ in pairs], dtype=np.int64),
                              np.array([t for _, t in pairs], dtype=np.int64))


def _in_label_map(class_ids: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A membership test by lookup table: one gather instead of ``np.isin``'s sort."""
    table = np.zeros(int(class_ids.max()) + 2 if len(class_ids) else 1, dtype=bool)
    table[class_ids] = True
    top = len(table) - 1  # never a label id: stands for every id beyond the table

    def member(action: np.ndarray) -> np.ndarray:
        return table[np.clip(action, 0, top)]
    return member


class DetectionStream:
    """Re-startable source of detection row blocks (see the module docstring)."""

    def __init__(self, source: Source, class_ids: np.ndarray, keyframes: KeyframeCodes, *,
                 tolerated: Tolerated, strict: bool) -> None:
        self.name = "<detections DataFrame>" if isinstance(source, pd.DataFrame) else os.fspath(source)
        self._source = source
        self._in_map = _in_label_map(class_ids)
        self._keyframes = keyframes
        self._strict = strict
        self.ranks = KeyframeRanks()
        self.passes = 0
        self.out_of_map_rows = 0
        self.unknown_video_rows = 0
        self.unknown_videos: set[str] = set()
        self.first_unknown: tuple[int, str] | None = None
        self._validated: pd.DataFrame | None = None  # a DataFrame source, validated once
        self._first_pass = self._frames(tolerated)
        self._first_block = next(self._first_pass)  # an unreadable or empty file fails now, not mid-evaluation

    def _frames(self, tolerated: Tolerated) -> Iterator[tuple[int, pd.DataFrame]]:
        if isinstance(self._source, pd.DataFrame):
            self._validated = validate_frame(self._source, self.name, scored=True, tolerated=tolerated)
            yield 1, self._validated
        else:
            yield from iter_detection_batches(self._source, tolerated=tolerated)

    def _blocks(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """The frames; rows are reported to ``tolerated`` on the first pass only."""
        if self.passes == 0:
            yield self._first_block
            self._first_block = None
            yield from self._first_pass
        elif isinstance(self._source, pd.DataFrame):
            yield 1, self._validated
        else:
            yield from iter_detection_batches(self._source, tolerated=Tolerated(strict=False))

    def __call__(self) -> Iterator[Rows]:
        counting = self.passes == 0
        for first_line, frame in self._blocks():
            yield self._rows(first_line, frame, counting)
        self.passes += 1

    def _rows(self, first_line: int, frame: pd.DataFrame, counting: bool) -> Rows:
        video_ids = frame["video_id"].array
        video = self._keyframes.codes_of(video_ids.categories)[np.asarray(video_ids.codes)]
        action = frame["action_id"].to_numpy()
        kf = keyframe_codes(video, frame["timestamp"].to_numpy())
        keep = self._in_map(action)
        unranked = keep & np.isnan(frame["score"].to_numpy())
        if unranked.any():
            raise AvaInputError(self.name, first_line + int(np.flatnonzero(unranked)[0]),
                                "score is NaN (the official evaluator ranks NaN scores by its heap's memory "
                                "layout, not by score; refused)")
        if counting:
            self.out_of_map_rows += int(len(action) - np.count_nonzero(keep))
        excluded = self._keyframes.excluded()
        if len(excluded):
            keep &= ~np.isin(kf, excluded)
        if counting:
            self._count_unknown(first_line, video_ids, keep & (video >= self._keyframes.num_groundtruth_videos))
        index = np.flatnonzero(keep)
        if len(index) == len(keep):  # every row kept (the usual block): no copies
            index = slice(None)
            lines = np.arange(first_line, first_line + len(keep), dtype=np.int64)
        else:
            lines = (first_line + index).astype(np.int64)
        return {"rank": self.ranks(kf[index]), "line": lines, "action_id": action[index].astype(np.int32),
                **{c: frame[c].to_numpy()[index] for c in ("score", "y1", "x1", "y2", "x2")}}

    def _count_unknown(self, first_line: int, video_ids: pd.Categorical, unknown: np.ndarray) -> None:
        """Rows on videos absent from the ground truth: false positives, or with ``strict`` an error."""
        if not unknown.any():
            return
        at = int(np.flatnonzero(unknown)[0])
        if self.first_unknown is None:
            self.first_unknown = (first_line + at, str(video_ids[at]))
        if self._strict:
            raise AvaInputError(self.name, first_line + at, f"video {video_ids[at]!r} is absent from "
                                "the ground truth (without --strict: counted as false positives)")
        self.unknown_video_rows += int(unknown.sum())
        self.unknown_videos.update(str(v) for v in pd.unique(np.asarray(video_ids)[unknown]))

    def unknown_video_warning(self) -> str | None:
        if not self.unknown_video_rows:
            return None
        line, video = self.first_unknown
        return (f"{self.unknown_video_rows} detection rows on {len(self.unknown_videos)} videos absent from the "
                f"ground truth (first: {video!r}, line {line}); counted as false positives, as the official "
                "evaluator does")
