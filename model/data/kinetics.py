"""Kinetics clips for training (random window, scale jitter, crop, flip) and the 30-view test.

``KineticsDataset(root, split, ...)[i]`` ->
``{"inputs": [slow, fast] | [fast], "label": int, "video_index": int, "view_index": int}``
with each input a normalised float tensor ``(3, T, H, W)``.

- ``mode="train"``: one item per video; a random ``T * tau``-frame window, a random short
  side in ``train_jitter_scales``, a random ``train_crop_size`` square, a flip with p=0.5.
- ``mode="test"``: ``num_clips * num_crops`` items per video (10 x 3 = the 30 views):
  clip ``i`` of ``num_clips`` uniformly spaced windows, short side ``test_crop_size``,
  crop ``j`` = left/centre/right (or top/centre/bottom) of ``test_crop_size``.
  ``view_index = i * num_crops + j``; average scores over items with the same
  ``video_index``.

Bad videos (policy). Missing files are found when the dataset is built: each is logged with
its path and dropped. In test mode every video is also probed then, so undecodable ones are
dropped too and every kept video has all its views. In training an undecodable video found
while loading is logged and replaced by another video drawn from the same per-sample random
stream (PySlowFast retries the same way). Every drop and replacement is counted in
``bad_videos``; when the count exceeds ``bad_video_cap`` (an int = that many files; a float
in (0, 1) = that fraction of the split, rounded up) loading stops with ``TooManyBadVideosError``. With
DataLoader workers each worker process counts its own replacements.

Decoding is single-threaded by default (``decode_threads=1``, PySlowFast's default too): the
parallelism comes from DataLoader workers, and frame threading delays the first frame after
every seek (``bench/decode.py`` measures both).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from model.data import transforms as T
from model.data.clip_sampling import ClipSpec
from model.data.decode import decode_frames, probe_video
from model.data.errors import (AnnotationError, EmptySplitError, TooManyBadVideosError,
                               VideoDecodeError)
from model.data.kinetics_annotations import (SPLIT_NAMES, KineticsRow, kinetics_video_path,
                                             read_class_list, read_kinetics_csv)

__all__ = ["KineticsAnnotations", "KineticsDataset", "load_kinetics_annotations"]

log = logging.getLogger(__name__)
_MAX_REPLACEMENTS = 10




@dataclass(frozen=True)
class KineticsAnnotations:
    """What a :class:`KineticsDataset` reads from ``annotations/`` for one split: its rows
    (labels checked against the class list) and the class names, index = class id. Load once
    with :func:`load_kinetics_annotations` and share between datasets of the split."""

    csv_path: Path
    split: str
    rows: list[KineticsRow]
    classes: list[str]


def load_kinetics_annotations(root: str | Path, split: str, *,
                              class_list: str | Path | None = None) -> KineticsAnnotations:
    """Read ``split``'s CSV and the class list (``class_list``, else ``classes.txt``, else the
    sorted labels of ``train.csv``); a row whose label is not a class is an error naming its line."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {sorted(SPLIT_NAMES)}, got {split!r}")
    annotations = Path(root) / "annotations"
    class_file = Path(class_list) if class_list else annotations / "classes.txt"
    csv_path = annotations / f"{SPLIT_NAMES[split]}.csv"
    rows = read_kinetics_csv(csv_path)
    if class_file.is_file() or class_list:
        classes = read_class_list(class_file)
    else:
        classes = sorted({r.label for r in read_kinetics_csv(annotations / "train.csv") if r.label is not None})
    known = set(classes)
    for row in rows:
        if row.label is not None and row.label not in known:
            raise AnnotationError(csv_path, f"label {row.label!r} is not in {class_file}",
                                  line=row.line, field="label")
    return KineticsAnnotations(csv_path, split, rows, classes)


class KineticsDataset(Dataset):
    """Clips of one Kinetics split (see the module docstring). ``annotations`` (from
    :func:`load_kinetics_annotations`) builds it from annotations already read, and then fixes
    ``split`` and ``class_list``; without it they are read here."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        num_frames: int,
        sampling_rate: float,
        alpha: int,
        pathways: str = "slowfast",
        mode: str = "train",
        train_jitter_scales: tuple[int, int] | None = None,
        train_crop_size: int = 224,
        test_crop_size: int = 256,
        num_clips: int = 10,
        num_crops: int = 3,
        bad_video_cap: int | float = 0.05,
        class_list: str | Path | None = None,
        seed: int = 0,
        decode_threads: int = 1,
        annotations: KineticsAnnotations | None = None,
    ) -> None:
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if annotations is None:
            annotations = load_kinetics_annotations(root, split, class_list=class_list)
        elif annotations.split != split:
            raise ValueError(f"annotations were loaded for split {annotations.split!r}, not {split!r}")
        self.root = Path(root)
        self.split, self.mode = split, mode
        self.clip = ClipSpec(num_frames, sampling_rate, alpha, pathways)
        if mode == "train" and train_jitter_scales is None:
            # The range depends on the clip (model.engine.schedules.train_jitter_scales); a
            # silent default here would train another recipe than the config's.
            raise ValueError("train_jitter_scales is required in train mode (the report's [256, 340], "
                             "[256, 360] for T x tau > 64: data.train_jitter_scales)")
        self.train_jitter_scales = tuple(train_jitter_scales) if train_jitter_scales is not None else None
        self.train_crop_size, self.test_crop_size = train_crop_size, test_crop_size
        self.num_clips, self.num_crops = (num_clips, num_crops) if mode == "test" else (1, 1)
        self.seed, self.epoch, self.decode_threads = seed, 0, decode_threads
        self.classes = annotations.classes
        class_ids = {name: i for i, name in enumerate(self.classes)}
        csv_path, rows = annotations.csv_path, annotations.rows
        self.bad_videos = 0
        self._cap = (math.ceil(bad_video_cap * len(rows)) if isinstance(bad_video_cap, float)
                     else int(bad_video_cap))
        self.videos: list[tuple[Path, int]] = []
        for row in rows:
            path = kinetics_video_path(self.root, split, row)
            try:
                if not path.is_file():
                    raise VideoDecodeError(path, "video file not found")
                if mode == "test":
                    probe_video(path)
            except VideoDecodeError as error:
                self._count_bad(error, csv_path)
                continue
            self.videos.append((path, class_ids[row.label] if row.label is not None else -1))
        if not self.videos:
            raise EmptySplitError(csv_path, "no usable video in this split")

    def _count_bad(self, error: VideoDecodeError, source: Path) -> None:
        self.bad_videos += 1
        log.warning("skipping bad video (%d so far, cap %d): %s", self.bad_videos, self._cap,
                    error)
        if self.bad_videos > self._cap:
            raise TooManyBadVideosError(source, f"{self.bad_videos} bad videos exceed the cap "
                                        f"of {self._cap}; last: {error}")

    def set_epoch(self, epoch: int) -> None:
        """Augmentations are a function of (seed, epoch, index): call before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos) * self.num_clips * self.num_crops

    def __getitem__(self, index: int) -> dict:
        video_index, view_index = divmod(index, self.num_clips * self.num_crops)
        if self.mode == "test":
            return self._test_view(video_index, view_index)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        for _ in range(_MAX_REPLACEMENTS):
            path, label = self.videos[video_index]
            try:
                frames = self._decode(path, None, rng)
                break
            except VideoDecodeError as error:
                self._count_bad(error, path)
                video_index = int(rng.integers(len(self.videos)))
        else:
            raise TooManyBadVideosError(path, f"{_MAX_REPLACEMENTS} replacements in a row failed")
        frames, _ = T.random_short_side_scale(frames, *self.train_jitter_scales, rng)
        frames, _ = T.random_crop(frames, self.train_crop_size, rng)
        if rng.random() < 0.5:
            frames, _ = T.horizontal_flip(frames)
        return self._sample(frames, label, video_index, 0)

    def _test_view(self, video_index: int, view_index: int) -> dict:
        clip_index, crop_index = divmod(view_index, self.num_crops)
        path, label = self.videos[video_index]
        frames = self._decode(path, clip_index, None)
        frames, _ = T.short_side_scale(frames, self.test_crop_size)
        frames, _ = T.uniform_crop(frames, self.test_crop_size, crop_index)
        return self._sample(frames, label, video_index, view_index)

    def _decode(self, path: Path, clip_index: int | None, rng) -> torch.Tensor:
        duration = probe_video(path).duration_s
        start = self.clip.kinetics_start(duration, clip_index or 0, self.num_clips, rng)
        return T.to_float_cthw(decode_frames(path, self.clip.times(start),
                                             threads=self.decode_threads))

    def _sample(self, frames: torch.Tensor, label: int, video_index: int,
                view_index: int) -> dict:
        return {"inputs": self.clip.split(T.normalise(frames.contiguous())), "label": label,
                "video_index": video_index, "view_index": view_index}
