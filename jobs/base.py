"""The common shape of every job kind: a submitit ``Checkpointable`` callable built from a run
directory, also runnable as ``python -m jobs.<kind> --run-dir DIR``.

Contract (docs/jobs.md): the job reads ``config.yaml`` and writes only the files of the job
contract in its run directory -- ``status.json``, ``metrics.jsonl``, ``checkpoints/``,
``predictions/``, ``tensorboard/``, ``result.json`` (written last, atomically: its presence
means "done"). A second call on a finished run directory returns the stored result.

Failures: a deterministic failure writes ``{"state": "failed", "error_kind": ...}`` and
raises ``JobFailure`` (the CLI exits with status 1); a preemption/timeout goes through
``checkpoint()``, which saves the training state, writes ``{"state": "checkpointed"}`` and
returns the ``DelayedSubmission`` that resumes the same run directory.

After ``checkpoint()``, submitit asks the scheduler to requeue the job (``scontrol requeue``).
That command runs inside the job, so the SIGTERM which SLURM sends to every process of a
preempted or requeued job can kill it before it returns. The state is saved by then, so such
an error is not the job's failure: the run leaves its fate to the scheduler (a preemption
requeues it, a time limit ends it and the orchestrator resubmits) instead of reporting
``failed``.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import submitit

from contract.exit_codes import ExitCode
from contract.files import atomic_write_json
from contract.run_dir import RESULT_FILE, STATUS_FILE, ErrorKind, StatusState
from jobs.config import JobConfig, load_job_config
from jobs.errors import BadConfigError, BadDataError, JobFailure
from jobs.run_dir_lock import exclusive_run_dir
from model.engine.checkpoint import CheckpointError
from model.engine.reporting import StatusWriter, next_attempt

__all__ = ["RunDirJob", "classify_error", "is_requeue_error", "leave_to_scheduler", "run_cli"]

log = logging.getLogger("jobs")


def classify_error(exc: BaseException) -> ErrorKind:
    """Map an exception to the ``error_kind`` of status.json."""
    from model.engine.batchnorm import BatchNormGroupError
    from model.engine.precision import PrecisionError
    from model.engine.schedules import ScheduleError
    from model.engine.trainer import EmptyDatasetError, NonFiniteLossError

    if isinstance(exc, NonFiniteLossError):
        return ErrorKind.NAN_LOSS
    if isinstance(exc, (BadDataError, EmptyDatasetError)) or _is_data_error(exc):
        return ErrorKind.BAD_DATA
    if isinstance(exc, (BadConfigError, CheckpointError, ScheduleError, PrecisionError,
                        BatchNormGroupError)) or _is_model_error(exc):
        return ErrorKind.BAD_CONFIG
    return ErrorKind.EXCEPTION


def is_requeue_error(exc: BaseException) -> bool:
    """An error of the scheduler command that submitit runs after ``checkpoint()``."""
    return isinstance(exc, (subprocess.SubprocessError, OSError))


def leave_to_scheduler(what: str, exc: BaseException, wait_s: float) -> None:
    """The checkpoint is saved but the requeue request failed: wait to be ended, no result.

    Exits through ``SystemExit`` (as submitit does after a successful requeue), so submitit
    writes no error result and status.json keeps ``checkpointed``.
    """
    log.warning("%s: checkpoint saved, but the requeue request failed (%s: %s); leaving this "
                "run to the scheduler (up to %.0f s)", what, type(exc).__name__, exc, wait_s)
    time.sleep(wait_s)  # a signal handled meanwhile does not cut it short (PEP 475)
    log.warning("%s: the scheduler did not end this run within %.0f s; exiting without a result",
                what, wait_s)
    raise SystemExit(-1)


def _is_data_error(exc: BaseException) -> bool:
    from model.data.errors import DataError
    return isinstance(exc, DataError)


def _is_model_error(exc: BaseException) -> bool:
    from model.nets.errors import CheckpointMismatchError
    return isinstance(exc, CheckpointMismatchError)


class RunDirJob(submitit.helpers.Checkpointable):
    """Base of the job kinds. Subclasses set ``kind`` and implement ``run(cfg) -> result``."""

    kind: ClassVar[str] = ""
    #: How long a run whose requeue request failed after its checkpoint waits for the
    #: scheduler to end it (SLURM's GraceTime / time limit), before it exits without a result.
    scheduler_wait_s: ClassVar[float] = 900.0

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._trainer: Any = None  # set while a training loop runs (for checkpoint())
        self._step = 0
        self._total_steps = 0
        self._checkpoint_taken = False
        self._holds_run_dir = False
        self._ranks: Any = None  # jobs.ranks.RankGuard while a distributed training runs

    # ------------------------------------------------------------------ entry points
    def __call__(self) -> dict[str, Any]:
        _configure_logging()
        # The imported modules (torch's are hundreds of thousands of objects) live as long as
        # the process: frozen, the collector skips them during the run, and at exit the
        # interpreter no longer walks them (0.4-0.6 s of every job's end, measured on a
        # demo fine-tune). The second freeze, on the way out, does the same for the model.
        gc.freeze()
        try:
            return self._run_in_run_dir()
        finally:
            gc.freeze()

    def _run_in_run_dir(self) -> dict[str, Any]:
        if not self.run_dir.is_dir():
            message = f"run directory {self.run_dir} does not exist (a job runs in the folder of its config.yaml)"
            log.error("%s failed (bad_config): %s", self.kind, message)
            raise JobFailure("bad_config", message)
        if not self._is_main():
            return self._run_once()
        with exclusive_run_dir(self.run_dir, self.kind):
            self._holds_run_dir = True
            try:
                return self._run_once()
            finally:
                self._holds_run_dir = False

    def _run_once(self) -> dict[str, Any]:
        result_path = self.run_dir / RESULT_FILE
        if result_path.is_file():
            log.info("%s already done (%s exists)", self.run_dir, result_path.name)
            return json.loads(result_path.read_text())
        self._attempt = next_attempt(self.run_dir / STATUS_FILE)
        if self._is_main():
            self._status_writer(0).write(StatusState.RUNNING, 0, f"{self.kind} starting")
        try:
            cfg = load_job_config(self.run_dir)
            result = self.run(cfg)
        except Exception as exc:  # every failure is reported, then re-raised typed
            if self._checkpoint_taken and is_requeue_error(exc):
                leave_to_scheduler(self.kind, exc, self.scheduler_wait_s)
            kind = classify_error(exc)
            message = f"{type(exc).__name__}: {exc}"
            if self._ranks is not None:  # a peer's failure or death shows here as a collective error
                blamed = self._ranks.explain(exc, self._current_step())  # exits for a lost rank
                if blamed is not None:
                    kind, message = blamed
                else:
                    self._ranks.record_own_failure(kind, message)
            log.error("%s failed (%s): %s", self.kind, kind, message)
            if self._is_main():
                self._status_writer(self._total_steps).write(
                    StatusState.FAILED, self._current_step(), message, error_kind=kind)
            raise JobFailure(kind, message) from exc
        if self._is_main():
            atomic_write_json(result_path, result)
            self._status_writer(self._total_steps).write(
                StatusState.COMPLETED, self._current_step(), "done", eta_s=0.0)
        log.info("%s done: %s", self.kind, {k: v for k, v in result.items()
                                            if not isinstance(v, (dict, list))})
        return result

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """submitit's preemption/timeout hook: save, mark checkpointed, resubmit this run dir."""
        if self._trainer is not None:
            if self._trainer.stopped_at is None:  # else the agreed stop has saved this step
                self._trainer.checkpoint_now()
        elif self._is_main() and self._holds_run_dir:  # not while waiting for another process
            self._status_writer(self._total_steps).write(
                StatusState.CHECKPOINTED, self._current_step(), "preempted before training state existed")
        self._checkpoint_taken = True  # after the save: an error while saving stays a failure
        return submitit.helpers.DelayedSubmission(type(self)(self.run_dir))

    def run(self, cfg: JobConfig) -> dict[str, Any]:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _is_main(self) -> bool:
        if self._trainer is not None:
            return bool(self._trainer.dist.is_main)
        return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0"))) == 0

    def _current_step(self) -> int:
        return int(self._trainer.step) if self._trainer is not None else self._step

    def _status_writer(self, total_steps: int) -> StatusWriter:
        status = self.run_dir / STATUS_FILE
        attempt = getattr(self, "_attempt", None) or next_attempt(status)
        self._attempt = attempt
        return StatusWriter(status, total_steps, attempt, enabled=self._is_main())


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_cli(job_class: type[RunDirJob], argv: list[str] | None = None) -> int:
    """``python -m jobs.<kind> --run-dir DIR``: exit 0 when done, 1 on a failure."""
    parser = argparse.ArgumentParser(prog=f"python -m jobs.{job_class.kind}",
                                     description=(job_class.__doc__ or "").split("\n")[0])
    parser.add_argument("--run-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        job_class(args.run_dir)()
    except JobFailure as exc:
        print(f"jobs.{job_class.kind}: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK
