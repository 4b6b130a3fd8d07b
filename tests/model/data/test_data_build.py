"""Datasets and loaders built from a job's ``data:`` config."""

from __future__ import annotations

import torch

from model.data.build import build_dataset, build_loader, build_tta_datasets


def _config(root, dataset, **overrides):
    cfg = {"dataset": dataset, "root": str(root), "split": "train", "num_frames": 2,
           "sampling_rate": 4, "alpha": 4, "train_jitter_scales": [60, 64],
           "train_crop_size": 56, "test_crop_size": 60, "test_num_clips": 2,
           "test_num_crops": 3, "proposal_score_thresh": 0.8, "train_iou_thresh": 0.9,
           "tta_scales": [60, 72], "tta_flip": True, "batch_size": 3, "num_workers": 0}
    cfg.update(overrides)
    return cfg


def test_kinetics_loader_with_a_worker_process(kinetics_root):
    cfg = _config(kinetics_root, "kinetics", num_workers=1)
    dataset = build_dataset(cfg, mode="train", pathways="slowfast", seed=1)
    loader, sampler = build_loader(dataset, cfg, shuffle=True, seed=1)
    sampler.set_epoch(0)
    batches = list(loader)
    assert len(batches) == 3  # 9 videos, batch 3
    slow, fast = batches[0]["inputs"]
    assert slow.shape == (3, 3, 2, 56, 56) and fast.shape == (3, 3, 8, 56, 56)
    labels = torch.cat([b["label"] for b in batches])
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_kinetics_test_views_from_config(kinetics_root):
    dataset = build_dataset(_config(kinetics_root, "kinetics", split="val"), mode="test",
                            pathways="fast")
    assert len(dataset) == 6 * 2 * 3
    assert dataset[5]["inputs"][0].shape == (3, 2, 60, 60)


def test_ava_train_loader_and_tta_views(ava_root):
    cfg = _config(ava_root, "ava")
    loader, _ = build_loader(build_dataset(cfg, mode="train"), cfg, shuffle=True)
    batch = next(iter(loader))
    assert batch["boxes"].shape[1] == 5 and batch["labels"].shape[1] == 80
    views = build_tta_datasets(_config(ava_root, "ava", split="val"))
    assert [v for v, _ in views] == [(60, False), (72, False), (60, True), (72, True)]
    widths = [d[0]["inputs"][1].shape[-1] for _, d in views]
    assert widths == [80, 96, 80, 96]
    # The same proposal, unflipped and flipped at one scale, mirrors about the width.
    plain, flipped = views[0][1][0]["boxes"], views[2][1][0]["boxes"]
    assert torch.allclose(flipped[:, 0], 80 - plain[:, 2])


def test_long_clips_use_the_wider_kinetics_jitter(kinetics_root):
    cfg = _config(kinetics_root, "kinetics", train_jitter_scales_long=[66, 70])
    assert build_dataset(cfg, mode="train").train_jitter_scales == (60, 64)
    long_clip = dict(cfg, num_frames=16, sampling_rate=8)  # T x tau = 128 > 64
    assert build_dataset(long_clip, mode="train").train_jitter_scales == (66, 70)
