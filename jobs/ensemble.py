"""Ensembling: the mean of the members' prediction scores (report section 2, "For ensembling
we average prediction scores across models"), written as this job's predictions, and scored
where the split has labels (the val ensemble's mAP / top-1 on the leaderboard).

Inputs: ``inputs.predictions: {member: path}``; optional ``ensemble.weights``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from contract.run_dir import METRICS_FILE, PREDICTIONS_DIR
from jobs.base import RunDirJob, run_cli
from jobs.config import JobConfig
from jobs.errors import BadConfigError, BadDataError
from jobs.predictions import (read_kinetics_predictions, score_ava, score_kinetics,
                              write_ava_detections, write_kinetics_predictions)
from model.engine.reporting import MetricsWriter

__all__ = ["EnsembleJob", "Job"]
_LABELLED = ("train", "val")


def member_paths(cfg: JobConfig, field: str = "inputs.predictions") -> dict[str, Path]:
    members = cfg.require(field)
    if not isinstance(members, dict) or not members:
        raise BadConfigError(f"{cfg.path}: field {field!r} must map member names to files")
    paths = {str(name): Path(str(path)) for name, path in members.items()}
    for name, path in paths.items():
        if not path.is_file():
            raise BadDataError(f"{path}: predictions of member {name!r} not found")
    return paths


class EnsembleJob(RunDirJob):
    """Averages the members' predictions and scores the ensemble on labelled splits."""

    kind = "ensemble"

    def run(self, cfg: JobConfig) -> dict[str, Any]:
        from model.eval.ensemble import ensemble_ava, ensemble_kinetics

        data = cfg.section("data")
        split = cfg.spec.data.split
        paths = member_paths(cfg)
        weights = cfg.spec.ensemble.weights
        metrics: dict[str, float] | None
        if cfg.spec.data.dataset == "ava":
            detections = ensemble_ava({m: str(p) for m, p in paths.items()}, weights)
            out = self.run_dir / PREDICTIONS_DIR / f"{split}.csv"
            write_ava_detections(detections, out)
            metrics = score_ava(detections, data, split) if split in _LABELLED else None
        else:
            frames, labels = {}, None
            for member, path in paths.items():
                frames[member], member_labels = read_kinetics_predictions(path)
                labels = member_labels if labels is None else labels
            probs = ensemble_kinetics(frames, weights)
            first = frames[next(iter(frames))]
            labels = np.asarray(labels)[first.index.get_indexer(probs.index)]
            out = self.run_dir / PREDICTIONS_DIR / f"{split}.npz"
            write_kinetics_predictions(out, probs.index.to_numpy(), probs.to_numpy(),
                                       list(probs.columns), labels)
            metrics = score_kinetics(probs.to_numpy(), labels) if split in _LABELLED else None
        if metrics:
            writer = MetricsWriter(self.run_dir / METRICS_FILE, self._attempt)
            writer.truncate_to(0)
            writer.write_many(0, split, metrics)
            writer.sync()
            writer.close()
        return {"kind": self.kind, "split": split, "members": list(paths),
                "predictions": str(out.relative_to(self.run_dir)), "metrics": metrics or {}}


Job = EnsembleJob

if __name__ == "__main__":
    raise SystemExit(run_cli(EnsembleJob))
