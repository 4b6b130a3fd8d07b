"""AVA fine-tuning from a Kinetics checkpoint: backbone loaded, detection head initialised.

Step schedule with 1k-iteration linear warm-up, weight decay 1e-7 (report section 2); the
member's IoU threshold for training boxes, NL context branch, iterations and scale jitter
come from config.yaml (``data.train_iou_thresh``, ``model.nl_context``,
``schedule.max_iters``, ``data.train_jitter_scales``); ``data.split: trainval`` with the
planner's 1.5x longer schedule trains the test-submission models.
"""
from __future__ import annotations

from jobs.base import run_cli
from jobs.config import JobConfig
from jobs.errors import BadConfigError
from jobs.training import TrainingJob

__all__ = ["FinetuneAvaJob", "Job"]


class FinetuneAvaJob(TrainingJob):
    """AVA action-detection fine-tuning of a Kinetics-pretrained backbone."""

    kind = "finetune_ava"
    task = "ava"

    def init_checkpoint(self, cfg: JobConfig) -> str | None:
        """AVA models start from a Kinetics checkpoint (Sec. 2); a random start only when the
        config allows it (``job.allow_random_init``, tests)."""
        init = super().init_checkpoint(cfg)
        if not init and not cfg.spec.job.allow_random_init:
            raise BadConfigError(f"{cfg.path}: field 'inputs.init_checkpoint' is missing (AVA "
                                 "models start from a Kinetics checkpoint)")
        return init


Job = FinetuneAvaJob

if __name__ == "__main__":
    raise SystemExit(run_cli(FinetuneAvaJob))
