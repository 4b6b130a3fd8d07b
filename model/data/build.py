"""Datasets and loaders from the ``data:`` section of a job's config.yaml.

Keys read (the job config contract, ``jobs.schema.DataConf``), all required: ``dataset``,
``root``, ``split``, ``num_frames``, ``sampling_rate``, ``alpha``, ``train_jitter_scales``,
``train_crop_size``, ``test_crop_size``, ``test_num_clips``, ``test_num_crops``,
``proposal_score_thresh``, ``train_iou_thresh``, ``tta_scales``, ``tta_flip`` (and
``batch_size``, ``num_workers`` for ``build_loader``). The sizes and view counts are the
config's, never a default here: a default would silently replace the report's numbers that
the planner resolved (the AVA jitter, Kinetics' 10 clips).
Optional: ``train_jitter_scales_long`` (Kinetics: used instead of ``train_jitter_scales``
when T x tau > 64, the report's rule, ``model.engine.schedules.train_jitter_scales``; the
planner resolves the rule itself and does not write it), ``bad_video_cap``, ``class_list``
(Kinetics); ``proposals`` ("coco" | "csv"), ``label_map`` (the 80-class training map; a bare
file name is looked up in ``<root>/annotations``), ``timeline_start_s`` (AVA). The
``labelmap`` key of the AVA config names the 60-class *evaluation* map and is not used here.
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
from model.engine.schedules import train_jitter_scales

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


def _test_scales(cfg: Mapping[str, Any]) -> list[int]:
    """AVA test short sides: ``tta_scales``, or the single ``test_crop_size`` when it is empty."""
    return list(cfg["tta_scales"] or [cfg["test_crop_size"]])


def _kinetics_train(cfg: Mapping[str, Any]) -> dict[str, Any]:
    jitter = cfg["train_jitter_scales"]
    if cfg.get("train_jitter_scales_long"):
        jitter = train_jitter_scales(int(cfg["num_frames"]), float(cfg["sampling_rate"]),
                                     short=jitter, long=cfg["train_jitter_scales_long"])
    return {"train_jitter_scales": tuple(int(v) for v in jitter), "train_crop_size": int(cfg["train_crop_size"])}


def _kinetics_test(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {"test_crop_size": int(cfg["test_crop_size"]), "num_clips": int(cfg["test_num_clips"]),
            "num_crops": int(cfg["test_num_crops"])}


def _ava_train(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {"train_jitter_scales": tuple(int(v) for v in cfg["train_jitter_scales"]),
            "train_crop_size": int(cfg["train_crop_size"]), "train_iou_thresh": float(cfg["train_iou_thresh"])}


def build_dataset(data_cfg: Mapping[str, Any], *, mode: str, pathways: str = "slowfast",
                  seed: int = 0, split: str | None = None, test_scale: int | None = None,
                  flip: bool = False) -> Dataset:
    """One dataset for ``mode`` ("train" | "test") on ``split`` (default ``data.split``).

    Only the keys of ``mode`` are read (a training dataset needs no test views), each one
    required.

    For AVA test-time augmentation use ``build_tta_datasets``; ``test_scale`` (AVA) is the
    first of ``data.tta_scales`` unless given (``test_crop_size`` when that list is empty).
    """
    cfg, split = data_cfg, split or data_cfg["split"]
    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    if cfg["dataset"] == "kinetics":
        return KineticsDataset(cfg["root"], split, mode=mode, seed=seed, **_common(cfg, pathways),
                               **(_kinetics_train(cfg) if mode == "train" else _kinetics_test(cfg)),
                               bad_video_cap=cfg.get("bad_video_cap", 0.05), class_list=cfg.get("class_list"))
    if cfg["dataset"] == "ava":
        views = (_ava_train(cfg) if mode == "train"
                 else {"test_scale": int(test_scale or _test_scales(cfg)[0]), "flip": flip})
        return AvaDataset(cfg["root"], split, mode=mode, seed=seed, **_common(cfg, pathways), **views,
                          proposal_score_thresh=float(cfg["proposal_score_thresh"]),
                          proposals=cfg.get("proposals", "coco"), label_map=_label_map(cfg),
                          timeline_start_s=int(cfg.get("timeline_start_s", 900)))
    raise ValueError(f"data.dataset must be 'kinetics' or 'ava', got {cfg['dataset']!r}")


def build_tta_datasets(data_cfg: Mapping[str, Any], *, pathways: str = "slowfast",
                       split: str | None = None) -> list[tuple[tuple[int, bool], AvaDataset]]:
    """AVA "++" test views: one test dataset per (short side, flip) in ``data.tta_scales``
    x ``data.tta_flip``; average the scores of the same box over them."""
    views = tta_views(_test_scales(data_cfg), bool(data_cfg["tta_flip"]))
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
    workers = int(data_cfg["num_workers"])
    loader = DataLoader(
        dataset, batch_size=int(data_cfg["batch_size"]), sampler=sampler,
        num_workers=workers, pin_memory=torch.cuda.is_available(),
        collate_fn=ava_collate if isinstance(dataset, AvaDataset) else kinetics_collate,
        drop_last=shuffle if drop_last is None else drop_last,
        persistent_workers=False)
    return loader, sampler
