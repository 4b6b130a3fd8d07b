"""Datasets and loaders from the ``data:`` section of a job's config.yaml.

Keys read (see the job config contract): ``dataset``, ``root``, ``split``, ``num_frames``,
``sampling_rate``, ``alpha``, ``train_jitter_scales``, ``train_crop_size``,
``test_crop_size``, ``test_num_clips``, ``test_num_crops``, ``proposal_score_thresh``,
``train_iou_thresh``, ``tta_scales``, ``tta_flip``, ``batch_size``, ``num_workers``.
Optional: ``train_jitter_scales_long`` (Kinetics: used instead of ``train_jitter_scales``
when T x tau > 64, the report's rule), ``bad_video_cap``, ``class_list`` (Kinetics);
``proposals`` ("coco" | "csv"), ``label_map`` (the 80-class training map; a bare file name is
looked up in ``<root>/annotations``), ``timeline_start_s`` (AVA). The ``labelmap`` key of the
AVA config names the 60-class *evaluation* map and is not used here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch.utils.data import DataLoader, Dataset

from model.data.ava import AvaDataset, tta_views
from model.data.collate import ava_collate, kinetics_collate
from model.data.kinetics import KineticsDataset
from model.data.sampler import ResumableDistributedSampler

__all__ = ["build_dataset", "build_tta_datasets", "build_loader"]


def _common(cfg: Mapping[str, Any], pathways: str) -> dict[str, Any]:
    return {"num_frames": int(cfg["num_frames"]), "sampling_rate": cfg["sampling_rate"],
            "alpha": int(cfg["alpha"]), "pathways": pathways}


def _label_map(cfg: Mapping[str, Any]) -> str | None:
    name = cfg.get("label_map")
    if not name:
        return None
    path = Path(name)
    return str(path if path.is_absolute() else Path(cfg["root"]) / "annotations" / path)


def build_dataset(data_cfg: Mapping[str, Any], *, mode: str, pathways: str = "slowfast",
                  seed: int = 0, split: str | None = None, test_scale: int | None = None,
                  flip: bool = False) -> Dataset:
    """One dataset for ``mode`` ("train" | "test") on ``split`` (default ``data.split``).

    For AVA test-time augmentation use ``build_tta_datasets``; ``test_scale`` defaults to
    the first of ``data.tta_scales`` (else ``test_crop_size``).
    """
    cfg, split = data_cfg, split or data_cfg["split"]
    jitter = cfg.get("train_jitter_scales")
    if cfg["dataset"] == "kinetics":
        if cfg.get("train_jitter_scales_long") and \
                int(cfg["num_frames"]) * float(cfg["sampling_rate"]) > 64:
            jitter = cfg["train_jitter_scales_long"]
        return KineticsDataset(
            cfg["root"], split, mode=mode, seed=seed, **_common(cfg, pathways),
            train_jitter_scales=tuple(jitter) if jitter else None,
            train_crop_size=int(cfg.get("train_crop_size", 224)),
            test_crop_size=int(cfg.get("test_crop_size", 256)),
            num_clips=int(cfg.get("test_num_clips", 10)),
            num_crops=int(cfg.get("test_num_crops", 3)),
            bad_video_cap=cfg.get("bad_video_cap", 0.05), class_list=cfg.get("class_list"))
    if cfg["dataset"] == "ava":
        scales = cfg.get("tta_scales") or [cfg.get("test_crop_size", 256)]
        return AvaDataset(
            cfg["root"], split, mode=mode, seed=seed, **_common(cfg, pathways),
            train_jitter_scales=tuple(jitter or (256, 320)),
            train_crop_size=int(cfg.get("train_crop_size", 224)),
            test_scale=int(test_scale or scales[0]), flip=flip,
            proposal_score_thresh=float(cfg.get("proposal_score_thresh", 0.8)),
            train_iou_thresh=float(cfg.get("train_iou_thresh", 0.9)),
            proposals=cfg.get("proposals", "coco"), label_map=_label_map(cfg),
            timeline_start_s=int(cfg.get("timeline_start_s", 900)))
    raise ValueError(f"data.dataset must be 'kinetics' or 'ava', got {cfg['dataset']!r}")


def build_tta_datasets(data_cfg: Mapping[str, Any], *, pathways: str = "slowfast",
                       split: str | None = None) -> list[tuple[tuple[int, bool], AvaDataset]]:
    """AVA "++" test views: one test dataset per (short side, flip) in ``data.tta_scales``
    x ``data.tta_flip``; average the scores of the same box over them."""
    views = tta_views(data_cfg.get("tta_scales") or [data_cfg.get("test_crop_size", 256)],
                      bool(data_cfg.get("tta_flip", False)))
    return [((scale, flip), build_dataset(data_cfg, mode="test", pathways=pathways,
                                          split=split, test_scale=scale, flip=flip))
            for scale, flip in views]


def build_loader(dataset: Dataset, data_cfg: Mapping[str, Any], *, shuffle: bool,
                 num_replicas: int = 1, rank: int = 0, seed: int = 0,
                 drop_last: bool | None = None) -> tuple[DataLoader, ResumableDistributedSampler]:
    """A DataLoader over a ``ResumableDistributedSampler`` (returned too: checkpoint its
    ``state_at(batches_done * batch_size)`` and call its ``set_epoch`` each epoch).

    Memory is pinned when CUDA is available; the collate follows the dataset kind.
    """
    sampler = ResumableDistributedSampler(dataset, num_replicas=num_replicas, rank=rank,
                                          seed=seed, shuffle=shuffle)
    workers = int(data_cfg.get("num_workers", 0))
    loader = DataLoader(
        dataset, batch_size=int(data_cfg.get("batch_size", 1)), sampler=sampler,
        num_workers=workers, pin_memory=torch.cuda.is_available(),
        collate_fn=ava_collate if isinstance(dataset, AvaDataset) else kinetics_collate,
        drop_last=shuffle if drop_last is None else drop_last,
        persistent_workers=False)
    return loader, sampler
