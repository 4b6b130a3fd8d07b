"""Several processes per job (``resources.tasks_per_node`` > 1): what the job layer adds.

Rank 0 alone writes the run directory (docs/jobs.md); the other ranks train beside it and
write only their logs. Two things need every rank:

* **Preemption.** SLURM sends SIGUSR2 to every task, submitit checkpoints and requeues only
  in rank 0, and a signal handler cannot save for ranks that may be inside a collective. So
  while the loop runs, SIGUSR2 only asks the trainer to stop (``Trainer.request_stop``); the
  ranks agree in the next step's all-reduce, rank 0 writes the checkpoint of that step, and
  then each rank hands over to submitit's own handler: rank 0 saves nothing more, requeues
  and exits; the others wait until rank 0 is gone and exit without a result.
* **A rank that dies.** A ``RankWatch`` heartbeat names the rank. The survivor that holds the
  verdict -- rank 0, or rank 1 when rank 0 is the one that died and left no verdict -- writes
  ``failed`` with ``error_kind: rank_lost`` and the rank, and exits without a result
  (``RankLost``); the orchestrator resubmits it like a node failure. A rank whose own code
  failed records its message in the store first, so rank 0 reports that failure (never
  retried) instead of a lost rank. A rank that hangs, or a collective that would wait for
  a dead peer, ends the process from the watch thread after ``job.rank_timeout_s``.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

import torch.distributed as dist

from contract.exit_codes import ExitCode
from contract.run_dir import STATUS_FILE, ErrorKind, StatusState
from jobs.errors import RankLost
from model.engine.rank_watch import LostRank, RankWatch
from model.engine.reporting import StatusWriter

__all__ = ["RankGuard", "looks_like_collective_failure"]

log = logging.getLogger("jobs")

#: How long a failed collective waits for the watch to see which peer went quiet.
LOST_WINDOW_S = 15.0
#: How long the watch thread leaves the main thread to report a lost rank itself.
MAIN_THREAD_GRACE_S = 10.0

_COLLECTIVE_WORDS = ("connection closed by peer", "connection reset by peer", "broken pipe",
                     "gloo", "nccl", "timed out", "socket", "store")


def looks_like_collective_failure(exc: BaseException) -> bool:
    """An error of torch.distributed's transport (gloo names the peer's address, not its rank)."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, ConnectionError)) and any(w in text for w in _COLLECTIVE_WORDS)


class RankGuard:
    """The watch and the agreed preemption of one rank of a distributed training."""

    def __init__(self, *, run_dir: Path, trainer: Any, attempt: int,
                 interval_s: float = 1.0, timeout_s: float = 60.0) -> None:
        self.run_dir = Path(run_dir)
        self.trainer = trainer
        self.rank, self.world_size = trainer.dist.rank, trainer.dist.world_size
        self.attempt = attempt
        self._previous_handler: Any = None
        self._verdict_taken = threading.Event()
        self.watch = RankWatch(host=os.environ["MASTER_ADDR"], port=int(os.environ["MASTER_PORT"]),
                               rank=self.rank, world_size=self.world_size, interval_s=interval_s,
                               timeout_s=timeout_s, on_lost=self._lost_while_waiting)

    # ------------------------------------------------------------------ training
    def __enter__(self) -> "RankGuard":
        self.watch.start()
        self._previous_handler = signal.getsignal(signal.SIGUSR2)
        signal.signal(signal.SIGUSR2, lambda signum, frame: self.trainer.request_stop())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        signal.signal(signal.SIGUSR2, self._previous_handler or signal.SIG_DFL)

    def finish(self) -> None:
        """Training ended on every rank: stop the watch together, so no rank that simply
        finished is taken for a lost one."""
        dist.barrier()
        self.watch.stop()

    def hand_over_preemption(self) -> None:
        """After the agreed stop (checkpoint written): submitit's handler requeues (rank 0)."""
        self.watch.stop()
        step = self.trainer.stopped_at
        handler = self._previous_handler
        if self.rank == 0:
            if callable(handler):
                handler(signal.SIGUSR2, None)  # submitit: checkpoint() (saves nothing more), requeue, exit
            raise SystemExit(-1)  # not under submitit (e.g. torchrun): the run is checkpointed
        if callable(handler):
            handler(signal.SIGUSR2, None)  # submitit logs that only rank 0 checkpoints
        log.info("rank %d: stopped at step %d with rank 0; waiting for it to requeue the job",
                 self.rank, step)
        try:
            dist.barrier()  # rank 0 never joins: this returns (with an error) once it is gone
        except Exception:
            pass
        raise SystemExit(-1)

    # ------------------------------------------------------------------ failures
    def explain(self, exc: BaseException, step: int) -> tuple[str, str] | None:
        """For an exception of this rank: (error_kind, message) when a peer is to blame,
        else None (this rank's own failure). Exits with ``RankLost`` for a lost rank."""
        if not looks_like_collective_failure(exc):
            return None
        if self.rank == 0:
            for rank, text in sorted(self.watch.reported_failures().items()):
                kind, _, message = text.partition(": ")
                return kind, f"rank {rank} of {self.world_size} failed: {message}"
        lost = self.watch.wait_for_lost(LOST_WINDOW_S)
        if lost is None:
            return None
        self._report_lost(lost, step, f"{type(exc).__name__}: {_first_line(exc)}")
        return None  # not reached

    def record_own_failure(self, kind: str, message: str) -> None:
        if self.rank != 0:
            self.watch.report_failure(f"{kind}: {message}")

    def _report_lost(self, lost: LostRank, step: int, seen_as: str) -> None:
        self._verdict_taken.set()
        self.watch.stop()
        message = (f"{lost.describe(self.world_size)}; rank {self.rank} saw it at step {step} "
                   f"({seen_as}); the job resumes from its latest checkpoint when resubmitted")
        self._record_lost(lost, step, message)
        raise RankLost(message)

    def _record_lost(self, lost: LostRank, step: int, message: str) -> None:
        """Log the verdict; the rank that holds it (``_holds_verdict``) writes it to status.json."""
        log.error("%s", message)
        if self._holds_verdict(lost):
            StatusWriter(self.run_dir / STATUS_FILE, self.trainer.s.max_iters, self.attempt).write(
                StatusState.FAILED, step, message, error_kind=ErrorKind.RANK_LOST)

    def _holds_verdict(self, lost: LostRank) -> bool:
        """Rank 0 writes; rank 1 only for a dead rank 0 that left the run directory 'running'
        (a rank 0 that failed, was preempted or finished wrote its own state before it went)."""
        if self.rank == 0:
            return True
        if self.rank != 1 or lost.rank != 0:
            return False
        try:
            status = json.loads((self.run_dir / STATUS_FILE).read_text())
        except (OSError, ValueError):
            return True
        return status.get("state") == StatusState.RUNNING and status.get("attempt") == self.attempt

    def _lost_while_waiting(self, lost: LostRank) -> None:
        """Watch thread: give the main thread a moment to report (its collective usually fails
        at once); if it is stuck -- a collective waiting for a peer that hangs -- end here."""
        if self._verdict_taken.wait(MAIN_THREAD_GRACE_S):
            return
        self._verdict_taken.set()
        step = int(self.trainer.step)
        message = (f"{lost.describe(self.world_size)}; rank {self.rank} was still waiting for it "
                   f"at step {step}; the job resumes from its latest checkpoint when resubmitted")
        self._record_lost(lost, step, message)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(ExitCode.FAILED)  # the main thread is blocked in C++; no exception can reach it


def _first_line(exc: BaseException) -> str:
    """The transport's own words, without gloo's source location and advice."""
    text = str(exc).strip().splitlines()
    line = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", text[0]) if text else ""
    return line.split(". This is typically")[0][:300]
