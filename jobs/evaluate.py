"""Evaluation / inference of one trained checkpoint (``inputs.checkpoint``) on ``data.split``.

- Kinetics: the 30-view test (``data.test_num_clips`` x ``data.test_num_crops``, short side
  ``data.test_crop_size``), mean softmax per video -> ``predictions/<split>.npz``.
- AVA: one clip per keyframe at short side ``data.tta_scales[0]`` (256 in the report), or the
  "++" views (every scale of ``data.tta_scales``, flipped too when ``data.tta_flip``) with
  scores averaged per box -> ``predictions/<split>.csv`` (official detection format, all 80
  classes).

Metrics (``split: val``) go to metrics.jsonl and result.json; test splits have no labels, so
only predictions are written.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch

from contract.run_dir import METRICS_FILE, PREDICTIONS_DIR
from jobs.base import RunDirJob, run_cli
from jobs.config import JobConfig
from jobs.errors import BadConfigError
from jobs.inference import predict_ava, predict_kinetics
from jobs.network import build_network, load_full_weights, pathways_of
from jobs.training import set_cpu_threads, use_frame_cache
from jobs.predictions import (score_ava, score_kinetics, write_ava_detections,
                              write_kinetics_predictions)
from model.engine.precision import Precision, describe_device, resolve_device
from model.engine.reporting import MetricsWriter

__all__ = ["EvaluateJob", "Job"]

log = logging.getLogger("jobs")
_LABELLED = ("train", "val")


class EvaluateJob(RunDirJob):
    """Inference of a trained checkpoint on a split; scores it where labels exist."""

    kind = "evaluate"

    def run(self, cfg: JobConfig) -> dict[str, Any]:
        from model.data import build_dataset, build_tta_datasets

        spec = cfg.spec
        if spec.inputs.get("checkpoint") is None:
            raise BadConfigError(f"{cfg.path}: field 'inputs.checkpoint' is missing")
        checkpoint = str(spec.inputs["checkpoint"])
        data = dataclasses.asdict(spec.data)
        split = spec.data.split
        device = resolve_device(spec.job.device)
        set_cpu_threads(cfg, device)
        use_frame_cache(cfg)
        precision = Precision(device, spec.job.precision, channels_last=device.type == "cuda")
        model = build_network(cfg)
        load_full_weights(model, checkpoint)
        model = precision.prepare_model(model)
        pathways = pathways_of(cfg)
        batch_size, workers = spec.data.batch_size, spec.data.num_workers
        out_dir = self.run_dir / PREDICTIONS_DIR
        metrics: dict[str, float] | None
        torch.manual_seed(spec.job.seed)
        if spec.data.dataset == "kinetics":
            dataset = build_dataset(data, mode="test", pathways=pathways, seed=spec.job.seed)
            ids, probs, labels = predict_kinetics(model, dataset, precision,
                                                  batch_size=batch_size, num_workers=workers)
            path = out_dir / f"{split}.npz"
            write_kinetics_predictions(path, ids, probs, list(dataset.classes), labels)
            metrics = score_kinetics(probs, labels) if split in _LABELLED else None
            # What the dataset really fed the model (items per kept video), not what the
            # config asked for: the 30-view claim is checked against this.
            summary = {"videos": int(len(ids)), "views_per_video": len(dataset) // len(dataset.videos)}
        else:
            views = build_tta_datasets(data, pathways=pathways, split=split)
            detections = predict_ava(model, [d for _, d in views], precision,
                                     batch_size=batch_size, num_workers=workers)
            path = out_dir / f"{split}.csv"
            write_ava_detections(detections, path)
            metrics = score_ava(detections, data, split) if split in _LABELLED else None
            summary = {"detections": int(len(detections)),
                       "views": [[scale, flip] for (scale, flip), _ in views]}
        if metrics:
            writer = MetricsWriter(self.run_dir / METRICS_FILE, self._attempt)
            writer.truncate_to(0)  # a re-run replaces, never duplicates
            writer.write_many(0, split, metrics)
            writer.sync()
            writer.close()
        return {"kind": self.kind, "split": split, "predictions": str(path.relative_to(self.run_dir)),
                "checkpoint": checkpoint, "metrics": metrics or {},
                "device": describe_device(device), **summary}


Job = EvaluateJob

if __name__ == "__main__":
    raise SystemExit(run_cli(EvaluateJob))
