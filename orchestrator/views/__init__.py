"""Read-only queries behind `status` and `leaderboard` (shared by the CLI and the dashboard).

Metric naming contract (what jobs write to metrics.jsonl, see docs/orchestrator.md):
split "val", names "frame_map" (AVA frame-mAP@0.5, a fraction), "top1"/"top5" (Kinetics
accuracies, fractions), "ap/<action_id>" (AVA per-class AP), "loss", "lr" (split "train").
"""

from orchestrator.views.metrics import latest_metric_values
from orchestrator.views.status import JobStatusRow, job_status_rows
from orchestrator.views.leaderboard import AvaRow, KineticsRow, ava_leaderboard, kinetics_leaderboard

__all__ = ["latest_metric_values", "JobStatusRow", "job_status_rows", "AvaRow", "KineticsRow",
           "ava_leaderboard", "kinetics_leaderboard"]
