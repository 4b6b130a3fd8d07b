"""Small job kinds that honour the run-directory contract, for executor and watcher tests.

``Counter`` counts to ``toy.total_steps`` (from config.yaml), one step every
``toy.step_seconds``; each step updates a deterministic value, appends a metric, rewrites
status.json and a checkpoint (atomic). ``result.json`` is written last. A resumed run
continues from the checkpoint, so its final value equals an uninterrupted run's.
``toy.fail``: ``"exception"`` raises at ``toy.fail_at``; ``"nan"`` writes status.json
``failed`` with a message first (the job-detected deterministic failure).

Registered with cloudpickle *by value*, so a SLURM node or a local subprocess can unpickle
a Counter without this test folder on its ``sys.path``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cloudpickle
import submitit
import yaml

from jobs.base import is_requeue_error, leave_to_scheduler
from orchestrator.executors import register_job_kind

cloudpickle.register_pickle_by_value(sys.modules[__name__])

COUNTER_KIND = "toy_counter"  # registered below; short enough for the jobs.kind column


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as stream:
        json.dump(payload, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


def next_value(value: int, step: int) -> int:
    """The counter's deterministic recurrence (so resume == uninterrupted is checkable)."""
    return (value * 31 + step * 7 + 1) % 1_000_003


def expected_final_value(total_steps: int) -> int:
    value = 1
    for step in range(1, total_steps + 1):
        value = next_value(value, step)
    return value


class Counter(submitit.helpers.Checkpointable):
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._checkpoint_taken = False

    def __call__(self) -> dict:
        try:
            return self._count()
        except Exception as exc:  # as jobs.base.RunDirJob: see docs/jobs.md, `checkpointed`
            if self._checkpoint_taken and is_requeue_error(exc):
                leave_to_scheduler("toy counter", exc, wait_s=300.0)
            raise

    def _count(self) -> dict:
        config = yaml.safe_load((self.run_dir / "config.yaml").read_text())
        toy = config.get("toy", {})
        total = int(toy.get("total_steps", 5))
        step_seconds = float(toy.get("step_seconds", 0.05))
        fail, fail_at = toy.get("fail"), int(toy.get("fail_at", 1))
        checkpoint_dir = self.run_dir / "checkpoints"
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        latest = checkpoint_dir / "latest.json"
        state = json.loads(latest.read_text()) if latest.exists() else {"step": 0, "value": 1}
        step, value = state["step"], state["value"]
        resumed_from = step
        attempt = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
        while step < total:
            step += 1
            if fail == "exception" and step == fail_at:
                raise ValueError(f"bad data in clip {step}")
            if fail == "nan" and step == fail_at:
                _write_json_atomic(self.run_dir / "status.json", {
                    "state": "failed", "step": step, "total_steps": total,
                    "message": f"loss is NaN at step {step}"})
                raise FloatingPointError(f"loss is NaN at step {step}")
            time.sleep(step_seconds)
            value = next_value(value, step)
            with open(self.run_dir / "metrics.jsonl", "a") as metrics:
                metrics.write(json.dumps({"step": step, "split": "train", "name": "value",
                                          "value": float(value), "time": time.time(), "attempt": attempt}) + "\n")
            _write_json_atomic(latest, {"step": step, "value": value})
            _write_json_atomic(self.run_dir / "status.json", {
                "state": "running", "step": step, "total_steps": total, "message": "",
                "resumed_from_step": resumed_from})
        result = {"final_value": value, "steps": total, "resumed_from_step": resumed_from}
        _write_json_atomic(self.run_dir / "result.json", result)
        _write_json_atomic(self.run_dir / "status.json", {"state": "completed", "step": total,
                                                          "total_steps": total, "message": ""})
        return result

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        # Progress is already on disk after every step: resubmit a fresh instance.
        self._checkpoint_taken = True
        return submitit.helpers.DelayedSubmission(Counter(self.run_dir))


register_job_kind(COUNTER_KIND, Counter)
