"""The metric names of the job contract (metrics.jsonl rows ``{"step", "split", "name",
"value"}``), as jobs write them and the orchestrator and dashboard read them.

Accuracies and mAPs are fractions in [0, 1]; the CLI and the dashboard show percent, the unit
of the report's tables. AVA per-class AP rows are named ``ap/<action_id>`` (label-map ids).
"""

from __future__ import annotations

__all__ = ["VAL_SPLIT", "TRAIN_SPLIT", "FRAME_MAP", "TOP1", "TOP5", "LOSS", "LR", "THROUGHPUT", "AP_PREFIX",
           "LEADERBOARD_METRICS", "VAL_FRAME_MAP", "VAL_TOP1", "VAL_TOP5", "KEY_METRIC_BY_TASK"]

VAL_SPLIT = "val"
TRAIN_SPLIT = "train"
FRAME_MAP = "frame_map"      # AVA frame-level mAP@0.5 IoU over the 60 evaluated classes
TOP1 = "top1"                # Kinetics top-1 accuracy
TOP5 = "top5"                # Kinetics top-5 accuracy
LOSS = "loss"
LR = "lr"
THROUGHPUT = "clips_per_s"   # training throughput, as model.engine.trainer writes it
AP_PREFIX = "ap/"
LEADERBOARD_METRICS = (FRAME_MAP, TOP1, TOP5)

# (split, name) pairs: a metric as the database keys it.
VAL_FRAME_MAP = (VAL_SPLIT, FRAME_MAP)
VAL_TOP1 = (VAL_SPLIT, TOP1)
VAL_TOP5 = (VAL_SPLIT, TOP5)
#: The metric that ranks a job of each task (experiment.task: "ava" | "kinetics").
KEY_METRIC_BY_TASK = {"ava": VAL_FRAME_MAP, "kinetics": VAL_TOP1}
