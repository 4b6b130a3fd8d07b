"""Kinetics pre-training: K600 from scratch, or K700 initialised from a K600 checkpoint
(``inputs.init_checkpoint``; the classifier is re-initialised for the new class count).

Half-period cosine schedule with linear warm-up, SGD momentum 0.9, weight decay 1e-4,
dropout 0.5 before the classifier (report section 3), all from config.yaml.
"""
from __future__ import annotations

from typing import Any

from jobs.base import RunDirJob, run_cli
from jobs.config import JobConfig
from jobs.errors import BadConfigError
from jobs.training import train

__all__ = ["Job", "PretrainJob"]


class PretrainJob(RunDirJob):
    """Kinetics pre-training (from scratch or from an upstream Kinetics checkpoint)."""

    kind = "pretrain"

    def run(self, cfg: JobConfig) -> dict[str, Any]:
        if cfg.require("model.task") != "kinetics":
            raise BadConfigError(f"{cfg.path}: field 'model.task' must be 'kinetics' for pretrain")
        return train(self, cfg, init_checkpoint=cfg.get("inputs.init_checkpoint"))


Job = PretrainJob

if __name__ == "__main__":
    raise SystemExit(run_cli(PretrainJob))
