"""Kinetics pre-training: K600 from scratch, or K700 initialised from a K600 checkpoint
(``inputs.init_checkpoint``; the classifier is re-initialised for the new class count).

Half-period cosine schedule with linear warm-up, SGD momentum 0.9, weight decay 1e-4,
dropout 0.5 before the classifier (report section 3), all from config.yaml.
"""
from __future__ import annotations

from jobs.base import run_cli
from jobs.training import TrainingJob

__all__ = ["Job", "PretrainJob"]


class PretrainJob(TrainingJob):
    """Kinetics pre-training (from scratch or from an upstream Kinetics checkpoint)."""

    kind = "pretrain"
    task = "kinetics"


Job = PretrainJob

if __name__ == "__main__":
    raise SystemExit(run_cli(PretrainJob))
