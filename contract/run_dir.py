"""The run directory: the files a job writes and the orchestrator reads.

Compute nodes often cannot reach the database, so a job writes only files in its run
directory and the orchestrator ingests them (docs/architecture.md, "The job contract")::

    <runs_root>/<experiment>/<job>/
      config.yaml          resolved config, written by the planner before submission
      checkpoints/         step_000123.pt + latest (atomic: write tmp, fsync, rename)
      metrics.jsonl        append-only: {"step", "split", "name", "value", "time", "attempt"}
      status.json          {"state", "step", "total_steps", "message", ...} replaced atomically
      predictions/         AVA detections CSV / Kinetics scores, per split
      submission/          the export job's test-server file and its manifest
      result.json          final metrics, written last: its presence means "done"
      logs/                submitit stdout/stderr, one folder per attempt
"""

from __future__ import annotations

import enum

__all__ = ["CONFIG_FILE", "STATUS_FILE", "RESULT_FILE", "METRICS_FILE", "CHECKPOINTS_DIR", "PREDICTIONS_DIR",
           "SUBMISSION_DIR", "MANIFEST_FILE", "LOGS_DIR", "ATTEMPT_FOLDER_PREFIX", "LOCK_FILE", "StatusState", "ErrorKind"]

CONFIG_FILE = "config.yaml"
STATUS_FILE = "status.json"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
PREDICTIONS_DIR = "predictions"
SUBMISSION_DIR = "submission"
#: The export job's provenance of its submission (validation report, members' checkpoints and
#: configs with sha256), which `orchestrator export` extends with the database lineage.
MANIFEST_FILE = "manifest.json"
LOGS_DIR = "logs"
#: ``logs/attempt_001/``: one submitit folder per attempt (a reused folder can hand a new
#: attempt an old attempt's result pickle).
ATTEMPT_FOLDER_PREFIX = "attempt_"
#: The ``flock`` that keeps one live process per run directory (jobs/run_dir_lock.py).
LOCK_FILE = ".job.lock"


class StatusState(enum.StrEnum):
    """``status.json``'s ``state``, lower case as jobs write it (not a `JobState`: this is the
    job's own word, which the watcher weighs with the scheduler's)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CHECKPOINTED = "checkpointed"  # preempted or timed out after saving: resumable


class ErrorKind(enum.StrEnum):
    """``status.json``'s ``error_kind`` beside ``state: failed``.

    All are deterministic failures, never retried, except RANK_LOST: a process of a
    distributed job died while the others were sound, the cluster's doing, resubmitted like
    a node failure.
    """

    EXCEPTION = "exception"
    NAN_LOSS = "nan_loss"
    BAD_CONFIG = "bad_config"
    BAD_DATA = "bad_data"
    RANK_LOST = "rank_lost"
