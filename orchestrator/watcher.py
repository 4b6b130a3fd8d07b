"""The watcher: reconcile scheduler + run directories -> database, submit what is ready.

One ``poll`` does, in order:

1. one batched scheduler query per backend for every live attempt (``sacct`` on SLURM);
2. for each live attempt, ``judge_attempt`` (scheduler word + status.json/result.json +
   submitit's outcome) -> transitions recorded on the Attempt, the Job mirrors it;
   ``ingest_job`` for running and just-finished jobs (incremental, idempotent); a job the
   scheduler keeps requeueing past ``cluster.max_resubmits`` restarts is cancelled -> FAILED;
3. PLANNED jobs with a FAILED/CANCELLED dependency -> CANCELLED, ``blocked_by_job_id`` naming it;
4. interrupted jobs (PREEMPTED/TIMEOUT/NODE_FAIL, not requeued by the scheduler) ->
   resubmitted on the same run dir after their back-off, or FAILED past the bound;
5. PLANNED jobs whose dependencies are all COMPLETED/REUSED -> submitted, within
   ``cluster.max_parallel`` live attempts, longest chain of dependents first
   (``orchestrator.submission_order``).

Submission never blocks on dependencies: a job is submitted only once its inputs exist.
Only the holder of the experiment's lease polls, so two watchers never double-submit;
the other one waits and shows progress.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from contract.states import (FINISHED_STATES, INTERRUPTED_STATES, LIVE_STATES, TERMINAL_STATES,
                             UNSUCCESSFUL_STATES, JobState, ObservedState)
from orchestrator.db import session_scope
from orchestrator.db.lease import (DEFAULT_TTL, acquire_lease, experiment_lease_key, process_owner, release_lease,
                                   renew_lease)
from orchestrator.db.models import Attempt, Experiment, Job
from orchestrator.db.types import utcnow
from orchestrator.executors import (ClusterSettings, Executor, ExecutorError, ResourceRequest,
                                    SchedulerObservation, SubmittedAttempt, UnknownJobKindError,
                                    attempt_log_folder, build_executor, read_process_outcome,
                                    resolve_backend)
from orchestrator.job_states import Clocks, check_transition, judge_attempt
from orchestrator.resubmission import decide_resubmission, requeued_past_bound
from orchestrator.poll_summary import EtaTracker, PollSummary, RunningJob
from orchestrator.run_dir import read_run_dir
from orchestrator.submission_order import SubmissionOrder

LOGGER = logging.getLogger(__name__)
SUBMIT_ATTEMPTS = 3  # consecutive polls on which the scheduler refused a submission


def _record_usage(job: Job, attempt: Attempt, observation: SchedulerObservation, uncertain: bool) -> None:
    """Keep what the attempt's allocation used; ``status`` shows it beside the estimate.

    SLURM: its accounting at every poll (a running job's figure grows; a requeued job's sums
    its runs). A local process has no accounting: once it has ended, its wall time (submission
    to end: the process starts when submitted) x the GPUs and CPUs it asked for.
    """
    if observation.gpu_seconds is not None and not uncertain:
        attempt.gpu_seconds, attempt.cpu_seconds = observation.gpu_seconds, observation.cpu_seconds
    elif attempt.executor == "local" and attempt.ended_at is not None and attempt.submitted_at is not None:
        wall = max(0.0, (attempt.ended_at - attempt.submitted_at).total_seconds())
        resources = job.resources or {}
        gpus = int(resources.get("nodes") or 1) * int(resources.get("gpus_per_node") or 0)
        attempt.gpu_seconds = int(round(wall * gpus))
        attempt.cpu_seconds = int(round(wall * int(resources.get("cpus_per_task") or 1)))


class _LeaseLost(Exception):
    """Another watcher holds the experiment's lease now: this poll must stop writing."""


class Watcher:
    """Drives one experiment to completion. ``executors`` may be injected (tests)."""

    def __init__(self, engine: Engine, experiment: str, settings: ClusterSettings, *,
                 backend: str | None = None, executors: dict[str, Executor] | None = None,
                 vanish_grace_s: float = 30.0, requeue_grace_s: float = 90.0,
                 owner: str | None = None, now: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.experiment = experiment
        self.settings = settings
        self._backend = backend
        self._executors: dict[str, Executor] = dict(executors or {})
        self.vanish_grace_s = vanish_grace_s
        self.requeue_grace_s = requeue_grace_s
        self._submission_order = SubmissionOrder()
        self.owner = owner or process_owner()
        self._now = now
        self._eta = EtaTracker()
        self._uncertain: set[int] = set()
        self._submit_failures: dict[int, int] = {}
        # A poll can outlast the lease (a large ingest backlog): it is renewed between jobs
        # once this much of its TTL has passed, and the poll stops if it was lost meanwhile.
        self.lease_renew_every_s = DEFAULT_TTL.total_seconds() / 4
        self._lease_taken_at = 0.0

    # ----------------------------------------------------------------- executors
    @property
    def backend(self) -> str:
        """The backend for new submissions (``cluster=auto`` is resolved once, lazily)."""
        if self._backend is None:
            self._backend = resolve_backend(self.settings)
        return self._backend

    def executor(self, backend: str) -> Executor:
        if backend not in self._executors:
            self._executors[backend] = build_executor(self.settings, backend)
        return self._executors[backend]

    # ----------------------------------------------------------------- loop
    def run(self, *, on_poll: Callable[[PollSummary], None] | None = None, timeout_s: float | None = None,
            poll_interval_s: float | None = None) -> PollSummary:
        """Poll until every job is terminal (or ``timeout_s``); releases the lease at the end."""
        interval = self.settings.poll_interval_s if poll_interval_s is None else poll_interval_s
        started = time.monotonic()
        try:
            while True:
                summary = self.poll()
                if on_poll is not None:
                    on_poll(summary)
                if summary.finished or (timeout_s is not None and time.monotonic() - started > timeout_s):
                    return summary
                self._wait(interval)
        finally:
            release_lease(self.engine, experiment_lease_key(self.experiment), self.owner)
            for executor in self._executors.values():
                close = getattr(executor, "close", None)
                if close is not None:
                    close()

    def _wait(self, interval: float) -> None:
        """Sleep until the next poll; sooner when the executors can tell that a job ended
        (the local one sees its processes exit), so a finished job's dependents start at once."""
        waiters = [executor.wait_for_exit for executor in self._executors.values()
                   if hasattr(executor, "wait_for_exit")]
        if len(waiters) == 1:
            waiters[0](interval)
        else:
            time.sleep(interval)

    def poll(self) -> PollSummary:
        if not acquire_lease(self.engine, experiment_lease_key(self.experiment), self.owner):
            return self._summary_without_lease()
        self._lease_taken_at = time.monotonic()
        try:
            with session_scope(self.engine) as session:
                jobs = self._load_jobs(session)
                self._reconcile_live(session, jobs)
                self._stop_requeue_loops(session, jobs)
                self._block_dependents(jobs)
                session.commit()
                self._resubmit_interrupted(session, jobs)
                self._submit_ready(session, jobs)
                return self._summarise_jobs(jobs)
        except _LeaseLost:
            LOGGER.warning("lost the lease of %s during a poll; another watcher carries on", self.experiment)
            return self._summary_without_lease()

    def _summary_without_lease(self) -> PollSummary:
        summary = self.summarise()
        summary.lease_held = False
        return summary

    def _keep_lease(self) -> None:
        """Renew the lease if due; raise `_LeaseLost` (ending the poll) if another took it."""
        if time.monotonic() - self._lease_taken_at < self.lease_renew_every_s:
            return
        if not renew_lease(self.engine, experiment_lease_key(self.experiment), self.owner):
            raise _LeaseLost
        self._lease_taken_at = time.monotonic()

    def summarise(self) -> PollSummary:
        with session_scope(self.engine) as session:
            return self._summarise_jobs(self._load_jobs(session))

    def _load_jobs(self, session: Session) -> list[Job]:
        experiment = session.scalars(select(Experiment).where(Experiment.name == self.experiment)).one_or_none()
        if experiment is None:
            raise LookupError(f"no experiment named {self.experiment!r} in the database")
        statement = (select(Job).where(Job.experiment_id == experiment.id).order_by(Job.id)
                     .options(selectinload(Job.attempts).selectinload(Attempt.transitions),
                              selectinload(Job.dependencies)))
        return list(session.scalars(statement))

    # ----------------------------------------------------------------- 1-2 reconcile
    def _reconcile_live(self, session: Session, jobs: list[Job]) -> None:
        live: dict[str, list[tuple[Job, Attempt]]] = {}
        for job in jobs:
            attempt = job.latest_attempt
            if attempt is not None and attempt.ended_at is None and job.state not in TERMINAL_STATES:
                live.setdefault(attempt.executor, []).append((job, attempt))
        for backend, pairs in live.items():
            handles = [self._handle(job, attempt) for job, attempt in pairs]
            try:
                observations = self.executor(backend).observe(handles)
            except Exception as error:  # scheduler unreachable: keep states, say so
                LOGGER.warning("cannot query %s: %s; keeping current states", backend, error)
                observations = {h.scheduler_id: SchedulerObservation(ObservedState.UNKNOWN, uncertain=True,
                                                                     reason=str(error))
                                for h in handles}
            for (job, attempt), handle in zip(pairs, handles):
                observation = observations.get(handle.scheduler_id,
                                               SchedulerObservation(ObservedState.UNKNOWN, uncertain=True))
                self._apply(session, job, attempt, handle, observation)

    def _handle(self, job: Job, attempt: Attempt) -> SubmittedAttempt:
        return SubmittedAttempt(scheduler_id=attempt.scheduler_job_id or "", backend=attempt.executor,
                                log_folder=attempt_log_folder(Path(job.run_dir), attempt.number))

    def _apply(self, session: Session, job: Job, attempt: Attempt, handle: SubmittedAttempt,
               observation: SchedulerObservation) -> None:
        now = self._now()
        last_change = attempt.transitions[-1].at if attempt.transitions else (attempt.submitted_at or now)
        clocks = Clocks(
            seconds_since_submit=(now - (attempt.submitted_at or now)).total_seconds(),
            seconds_in_state=(now - last_change).total_seconds(),
            vanish_grace_s=self.vanish_grace_s if attempt.executor == "slurm" else 0.0,
            requeue_grace_s=self.requeue_grace_s)
        requeues_seen = sum(1 for t in attempt.transitions if t.state == JobState.REQUEUED.value)
        verdict = judge_attempt(attempt.state, observation, read_run_dir(job.run_dir),
                                read_process_outcome(handle.log_folder, handle.scheduler_id), clocks, requeues_seen)
        if verdict.uncertain:
            self._uncertain.add(job.id)
        else:
            self._uncertain.discard(job.id)
        if verdict.via_requeued:
            self._transition(attempt, JobState.REQUEUED.value, verdict.reason, now)
        if verdict.state != attempt.state:
            self._transition(attempt, verdict.state, verdict.reason, now)
        if observation.node and not verdict.uncertain:
            attempt.node = observation.node
        if attempt.state == JobState.RUNNING.value and attempt.started_at is None:
            attempt.started_at = now
        if verdict.final:
            attempt.ended_at = now
        _record_usage(job, attempt, observation, verdict.uncertain)
        job.state = attempt.state
        if verdict.deterministic_failure:
            job.error = verdict.reason
        if job.state == JobState.RUNNING or job.state in TERMINAL_STATES or job.state in INTERRUPTED_STATES:
            self._ingest(session, job)

    def _transition(self, attempt: Attempt, state: str, reason: str | None, now: dt.datetime) -> None:
        check_transition(attempt.state, state)
        attempt.record_transition(state, reason=reason, at=now)

    def _ingest(self, session: Session, job: Job) -> None:
        """Ingest commits as it goes: commit this poll's transitions first, so that a failed
        ingest (rolled back alone) can never take a recorded transition with it."""
        from orchestrator.ingest import ingest_job

        self._keep_lease()  # before writing: the previous job's ingest may have been long
        session.commit()
        try:
            ingest_job(session, job)
        except Exception:  # a bad file must not stop the watcher; ingest logs the detail
            session.rollback()
            LOGGER.exception("ingest of %s failed", job.name)

    def _stop_requeue_loops(self, session: Session, jobs: list[Job]) -> None:
        """Scheduler requeues count toward the restart bound (``orchestrator.resubmission``):
        past it the live attempt is cancelled, so a preemption storm ends instead of cycling."""
        for job in jobs:
            attempt = job.latest_attempt
            if attempt is None or attempt.ended_at is not None or job.state in TERMINAL_STATES:
                continue
            reason = requeued_past_bound(job, max_resubmits=self.settings.max_resubmits)
            if reason is None:
                continue
            try:
                self.executor(attempt.executor).cancel(self._handle(job, attempt))
            except ExecutorError as error:  # try again next poll; the attempt stays live meanwhile
                LOGGER.warning("cannot cancel %s past its restart bound: %s", job.name, error)
                continue
            now = self._now()
            self._transition(attempt, JobState.CANCELLED.value, reason, now)
            attempt.ended_at = now
            job.state, job.error = JobState.FAILED.value, reason
            session.commit()

    # ----------------------------------------------------------------- 3 blocked
    def _block_dependents(self, jobs: list[Job]) -> None:
        for job in jobs:  # planner order is topological: a block propagates in one pass
            if job.state != JobState.PLANNED.value:
                continue
            blocker = next((dep for dep in job.dependencies if dep.state in UNSUCCESSFUL_STATES), None)
            if blocker is not None:
                job.state, job.blocked_by_job_id = JobState.CANCELLED.value, blocker.id
                job.error = f"blocked: dependency {blocker.name} is {blocker.state}"

    # ----------------------------------------------------------------- 4-5 submit
    def _live_count(self, jobs: list[Job]) -> int:
        return sum(1 for job in jobs if job.state in LIVE_STATES)

    def _resubmit_interrupted(self, session: Session, jobs: list[Job]) -> None:
        limit = self.settings.parallel_limit(self.backend)
        interrupted = [job for job in jobs if job.state in INTERRUPTED_STATES
                       and job.latest_attempt is not None and job.latest_attempt.ended_at is not None]
        for job in self._submission_order.sorted(interrupted, jobs):
            resubmits = len(job.attempts) - 1
            decision = decide_resubmission(job, max_resubmits=self.settings.max_resubmits,
                                           backoff_s=self.settings.backoff_after(resubmits), now=self._now())
            if decision.action == "give_up":
                job.state, job.error = JobState.FAILED.value, decision.reason
                session.commit()
            elif decision.action == "resubmit" and self._live_count(jobs) < limit:
                previous = job.latest_attempt
                self._transition(previous, JobState.REQUEUED.value,
                                 f"resubmitted as attempt {previous.number + 1} from the latest checkpoint",
                                 self._now())
                self._submit(session, job)

    def _submit_ready(self, session: Session, jobs: list[Job]) -> None:
        limit = self.settings.parallel_limit(self.backend)
        ready = [job for job in jobs if job.state == JobState.PLANNED.value
                 and all(dep.state in FINISHED_STATES for dep in job.dependencies)]
        for job in self._submission_order.sorted(ready, jobs):
            if self._live_count(jobs) >= limit:
                return
            self._submit(session, job)

    def _submit(self, session: Session, job: Job) -> None:
        """New attempt for ``job``; committed at once so a scheduler id is never lost."""
        number = (job.latest_attempt.number + 1) if job.latest_attempt else 1
        resumed_from = read_run_dir(job.run_dir).step if number > 1 else None
        try:
            handle = self.executor(self.backend).submit(
                job.kind, Path(job.run_dir), ResourceRequest.from_mapping(job.resources or {}), number, job.name)
        except ExecutorError as error:
            # sbatch may fail for a moment (controller restarting): try again next poll, and
            # give up only when it keeps failing (a bad partition or account never works).
            failures = self._submit_failures[job.id] = self._submit_failures.get(job.id, 0) + 1
            job.error = f"submission failed ({failures}/{SUBMIT_ATTEMPTS}): {error}"
            if failures >= SUBMIT_ATTEMPTS:
                job.state = JobState.FAILED.value
            session.commit()
            return
        except (UnknownJobKindError, ValueError, OSError) as error:
            job.state, job.error = JobState.FAILED.value, f"submission failed: {error}"
            session.commit()
            return
        self._submit_failures.pop(job.id, None)
        now = self._now()
        attempt = Attempt(number=number, executor=handle.backend, scheduler_job_id=handle.scheduler_id,
                          submitted_at=now, resumed_from_step=resumed_from, state=JobState.SUBMITTED.value)
        job.attempts.append(attempt)
        attempt.record_transition(JobState.SUBMITTED, reason=f"{handle.backend} job {handle.scheduler_id}", at=now)
        job.state, job.error = JobState.SUBMITTED.value, None
        session.commit()

    # ----------------------------------------------------------------- summary
    def _summarise_jobs(self, jobs: list[Job]) -> PollSummary:
        summary = PollSummary(total=len(jobs))
        clock = time.monotonic()
        for job in jobs:
            if job.state in FINISHED_STATES:
                summary.done += 1
            elif job.state == JobState.FAILED.value:
                summary.failed.append((job.name, job.error or "failed"))
            elif job.state == JobState.CANCELLED.value:
                summary.cancelled += 1
            elif job.state in LIVE_STATES or job.state in INTERRUPTED_STATES:
                step, total = job.progress_step, job.progress_total
                summary.running.append(RunningJob(job.name, job.state, step, total,
                                                  self._eta.seconds_left(job.id, step, total, clock), job.id in self._uncertain))
            else:
                summary.waiting += 1
        return summary
