"""AVA v2.2 clips centred on keyframes, with person boxes that follow every transform.

``AvaDataset(root, split, ...)[i]`` is one keyframe::

    {"inputs": [slow, fast] | [fast],   normalised float (3, T, H, W)
     "boxes": (N, 4) float,             x1, y1, x2, y2 in input pixels, after all transforms
     "labels": (N, 80) float,           multi-hot over action ids 1..80 (zeros in test mode)
     "boxes_norm": (N, 4) float,        the boxes as read, normalised [0, 1] (to write
                                        detections in the official CSV format)
     "video_id": str, "timestamp": int}

Samples:

- ``mode="train"``: every keyframe with ground truth (minus the excluded timestamps). Boxes
  are the ground-truth boxes, plus every person proposal with score > ``proposal_score_thresh``
  whose IoU with a ground-truth box is > ``train_iou_thresh``, labelled with the actions of
  the ground-truth box it overlaps most (the report's box augmentation; 0.9, or 0.75 for two
  ensemble members). Transforms: short side jittered in ``train_jitter_scales``, a random
  ``train_crop_size`` square, a horizontal flip with p=0.5.
- ``mode="test"`` (validation and test inference): every keyframe with at least one proposal
  above the threshold (minus the excluded timestamps); boxes = those proposals; the whole
  frame with its short side at ``test_scale``, flipped when ``flip``. The "++" test-time
  augmentation builds one dataset per (scale, flip) of ``tta_views`` and averages the
  scores of the same box (same ``video_id``, ``timestamp`` and position in the sample).

``split`` is ``train``, ``val``, ``test`` or ``trainval`` (train + val ground truth, for
the final models). Timeline: keyframe ``timestamp`` is at video time
``timestamp - timeline_start_s`` of ``videos/<video_id>.mp4`` (see ``synthetic.ava_gen``);
a timestamp outside the movie is an ``AnnotationError``. A missing or undecodable movie is a
``VideoDecodeError`` (AVA has few movies; losing one silently would change the benchmark).

Annotations are read by :func:`load_ava_annotations`, which the constructor calls unless given
``annotations=`` already loaded (the test-time views of one split share one reading).

Decoding is single-threaded by default (``decode_threads=1``, PySlowFast's default too): the
parallelism comes from DataLoader workers, and frame threading delays the first frame after
every seek (``bench/decode.py`` measures both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from model.data import transforms as T
from model.data.ava_annotations import (AvaBox, Keyframe, read_ava_boxes, read_coco_proposals,
                                        read_excluded)
from model.data.ava_labelmap import (AVA_EVALUATED_LABEL_MAP_FILE, AVA_LABEL_MAP_FILE, AVA_NUM_CLASSES,
                                     read_label_map)
from model.data.clip_sampling import ClipSpec
from model.data.decode import decode_frames, probe_video
from model.data.errors import AnnotationError, EmptySplitError

__all__ = ["AvaAnnotations", "AvaDataset", "load_ava_annotations", "tta_views"]

_GT_SPLITS = {"train": ("train",), "val": ("val",), "trainval": ("train", "val"), "test": ()}


def tta_views(scales: list[int] | tuple[int, ...], flip: bool) -> list[tuple[int, bool]]:
    """The (short side, flipped) views of test-time augmentation, unflipped first."""
    views = [(int(s), False) for s in scales]
    return views + [(s, True) for s, _ in views] if flip else views


@dataclass(frozen=True)
class AvaAnnotations:
    """What an :class:`AvaDataset` reads from ``annotations/`` for one split and mode: the
    label map, the samples (keyframe, boxes) and where each keyframe was first read (to name
    the file and line of a timestamp outside its movie). Load once with
    :func:`load_ava_annotations` and share between datasets that differ only in their
    transforms (the test-time augmentation views)."""

    directory: Path
    split: str
    mode: str
    label_map: dict[int, str]
    samples: list[tuple[Keyframe, list[AvaBox]]]
    sources: dict[Keyframe, tuple[Path, int]]


def _label_map_path(annotations: Path, label_map: str | Path | None) -> Path:
    """The given label map, else the 80-class file, else the 60 evaluated classes."""
    if label_map:
        return Path(label_map)
    path = annotations / AVA_LABEL_MAP_FILE
    return path if path.is_file() else annotations / AVA_EVALUATED_LABEL_MAP_FILE


def load_ava_annotations(root: str | Path, split: str, *, mode: str = "train", proposals: str = "coco",
                         proposal_score_thresh: float = 0.8, train_iou_thresh: float = 0.9,
                         label_map: str | Path | None = None) -> AvaAnnotations:
    """Read the label map, ground truth, excluded timestamps and person proposals of ``split``.

    ``mode="train"``: every non-excluded keyframe with ground truth, its boxes the ground
    truth plus each proposal above ``proposal_score_thresh`` overlapping a ground-truth box by
    more than ``train_iou_thresh``; ``mode="test"``: every non-excluded keyframe with a
    proposal above the threshold, its boxes those proposals.
    """
    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    if split not in _GT_SPLITS:
        raise ValueError(f"split must be one of {sorted(_GT_SPLITS)}, got {split!r}")
    if proposals not in ("coco", "csv"):
        raise ValueError(f"proposals must be 'coco' or 'csv', got {proposals!r}")
    annotations = Path(root) / "annotations"
    label_path = _label_map_path(annotations, label_map)
    labels = read_label_map(label_path)
    bad = [i for i in labels if not 1 <= i <= AVA_NUM_CLASSES]
    if bad:
        raise AnnotationError(label_path, f"ids {bad} outside 1..{AVA_NUM_CLASSES}", field="id")
    gt: dict[Keyframe, list[AvaBox]] = {}
    excluded: set[Keyframe] = set()
    kept_proposals: dict[Keyframe, list[AvaBox]] = {}
    sources: dict[Keyframe, tuple[Path, int]] = {}
    for part in _GT_SPLITS[split] or ("test",):
        if part in _GT_SPLITS[split]:
            gt_path = annotations / f"ava_{part}_v2.2.csv"
            part_gt = read_ava_boxes(gt_path, label_ids=set(labels))
            gt.update(part_gt)
            sources.update({k: (gt_path, v[0].line) for k, v in part_gt.items()})
            exclusions = annotations / f"ava_{part}_excluded_timestamps_v2.2.csv"
            if exclusions.is_file():
                excluded |= read_excluded(exclusions)
        part_proposals, proposal_path = _read_proposals(annotations, part, proposals)
        for key, boxes in part_proposals.items():
            kept = [b for b in boxes if b.score > proposal_score_thresh]
            sources.setdefault(key, (proposal_path, boxes[0].line))
            if kept:
                kept_proposals.setdefault(key, []).extend(kept)
    if mode == "train":
        keys = sorted(k for k in gt if k not in excluded)
        samples = [(k, _train_boxes(gt[k], kept_proposals.get(k, []), train_iou_thresh)) for k in keys]
    else:
        keys = sorted(k for k in kept_proposals if k not in excluded)
        samples = [(k, kept_proposals[k]) for k in keys]
    if not samples:
        raise EmptySplitError(annotations, f"split {split!r} ({mode}) has no keyframe with boxes")
    return AvaAnnotations(annotations, split, mode, labels, samples, sources)


def _read_proposals(annotations: Path, part: str, kind: str) -> tuple[dict[Keyframe, list[AvaBox]], Path]:
    if kind == "coco":
        path = annotations / f"ava_{part}_person_proposals.json"
        return read_coco_proposals(path, annotations / f"ava_{part}_person_proposals_images.json"), path
    path = annotations / f"ava_detection_{part}_boxes_and_labels.csv"
    return read_ava_boxes(path, label_ids=None, predicted=True), path


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), [x1, y1, x2, y2] -> (N, M).

    Written here rather than taken from ``torchvision.ops.box_iou`` (the same arithmetic) so that
    reading annotations does not import torchvision and, through it, ``torch._dynamo`` (~1 s).
    """
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.max(a[:, None, :2], b[:, :2])
    bottom_right = torch.min(a[:, None, 2:], b[:, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    return inter / (area_a[:, None] + area_b - inter)


def _train_boxes(gt: list[AvaBox], proposals: list[AvaBox], iou_thresh: float) -> list[AvaBox]:
    boxes = [(b.box, b.actions) for b in gt]
    if proposals:
        iou = pairwise_iou(torch.tensor([p.box for p in proposals], dtype=torch.float64),
                      torch.tensor([g.box for g in gt], dtype=torch.float64))
        best, owner = iou.max(dim=1)
        boxes += [(p.box, gt[int(o)].actions) for p, b, o in zip(proposals, best, owner)
                  if b > iou_thresh]
    return [AvaBox(box, -1, actions) for box, actions in boxes]


class AvaDataset(Dataset):
    """Keyframe clips of one split (see the module docstring).

    ``annotations`` (from :func:`load_ava_annotations`) builds the dataset from annotations
    already read, and then fixes ``split``, ``mode`` and the proposal options; without it they
    are read here. ``train_jitter_scales`` has no default: the report's is [256, 340] (the
    ``data:`` config), and a silent default would train another recipe. It is required in
    ``mode="train"`` only, the one mode that jitters.
    """

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
        test_scale: int = 256,
        flip: bool = False,
        proposal_score_thresh: float = 0.8,
        train_iou_thresh: float = 0.9,
        proposals: str = "coco",
        label_map: str | Path | None = None,
        timeline_start_s: int = 900,
        seed: int = 0,
        decode_threads: int = 1,
        annotations: AvaAnnotations | None = None,
    ) -> None:
        if annotations is None:
            annotations = load_ava_annotations(root, split, mode=mode, proposals=proposals,
                                               proposal_score_thresh=proposal_score_thresh,
                                               train_iou_thresh=train_iou_thresh, label_map=label_map)
        elif (annotations.split, annotations.mode) != (split, mode):
            raise ValueError(f"annotations were loaded for split {annotations.split!r} in mode "
                             f"{annotations.mode!r}, not {split!r} in {mode!r}")
        if mode == "train" and train_jitter_scales is None:
            raise ValueError("train_jitter_scales is required in train mode (the report's [256, 340]: "
                             "data.train_jitter_scales)")
        self.root, self.split, self.mode = Path(root), split, mode
        self.clip = ClipSpec(num_frames, sampling_rate, alpha, pathways)
        self.train_jitter_scales = tuple(train_jitter_scales) if train_jitter_scales is not None else None
        self.train_crop_size, self.test_scale, self.flip = train_crop_size, test_scale, flip
        self.timeline_start_s = timeline_start_s
        self.seed, self.epoch, self.decode_threads = seed, 0, decode_threads
        self.label_map = annotations.label_map
        self._check_timestamps(annotations.sources)
        self.samples = annotations.samples

    def _check_timestamps(self, sources: dict[Keyframe, tuple[Path, int]]) -> None:
        durations: dict[str, float] = {}
        for (video_id, timestamp), (path, line) in sorted(sources.items()):
            if video_id not in durations:
                durations[video_id] = probe_video(self.movie_path(video_id)).duration_s
            offset = timestamp - self.timeline_start_s
            if not 0 <= offset <= durations[video_id]:
                raise AnnotationError(
                    path, f"timestamp {timestamp} is outside movie {video_id} (timeline "
                    f"{self.timeline_start_s}..{self.timeline_start_s + durations[video_id]:.1f}"
                    " s)", line=line, field="timestamp")

    def movie_path(self, video_id: str) -> Path:
        return self.root / "videos" / f"{video_id}.mp4"

    def set_epoch(self, epoch: int) -> None:
        """Augmentations are a function of (seed, epoch, index): call before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        (video_id, timestamp), entries = self.samples[index]
        centre = timestamp - self.timeline_start_s
        frames = T.to_float_cthw(decode_frames(self.movie_path(video_id),
                                               self.clip.centred_times(centre),
                                               threads=self.decode_threads))
        height, width = frames.shape[2:]
        norm = torch.tensor([e.box for e in entries], dtype=torch.float32)
        boxes = norm * torch.tensor([width, height, width, height], dtype=torch.float32)
        labels = torch.zeros(len(entries), AVA_NUM_CLASSES)
        if self.mode == "train":
            for row, entry in enumerate(entries):
                labels[row, [a - 1 for a in entry.actions]] = 1.0
            rng = np.random.default_rng((self.seed, self.epoch, index))
            frames, boxes = T.random_short_side_scale(frames, *self.train_jitter_scales, rng,
                                                      boxes)
            frames, boxes = T.random_crop(frames, self.train_crop_size, rng, boxes)
            if rng.random() < 0.5:
                frames, boxes = T.horizontal_flip(frames, boxes)
        else:
            frames, boxes = T.short_side_scale(frames, self.test_scale, boxes)
            if self.flip:
                frames, boxes = T.horizontal_flip(frames, boxes)
        return {"inputs": self.clip.split(T.normalise(frames.contiguous())), "boxes": boxes,
                "labels": labels, "boxes_norm": norm, "video_id": video_id,
                "timestamp": timestamp}
