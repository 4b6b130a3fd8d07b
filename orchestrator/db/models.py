"""The orchestrator's database: experiments, the job DAG, attempts, metrics, artefacts.

The orchestrator is the single writer of this database (jobs write files, see
docs/orchestrator.md). Every table here is created by an Alembic revision in `migrations/`;
never call `Base.metadata.create_all` outside a throw-away test.

States are stored as plain strings (not a native ENUM) so that adding a state is a code
change, not a schema migration on PostgreSQL; the vocabulary is `contract.states.JobState`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from contract.metric_names import VAL_SPLIT
from contract.states import JobState
from orchestrator.db.types import UTCDateTime, utcnow

__all__ = [
    "Base", "JobState", "Experiment", "Job", "JobDependency", "Attempt", "AttemptTransition", "Metric",
    "Artifact", "Submission", "WatcherLease", "INDEXED_SPLIT", "VAL_METRICS_INDEX",
]

# The one metrics split read across jobs (leaderboard, status): only its rows are indexed by
# name (see Metric). Queries across jobs must say `split = 'val'` literally to use the index.
INDEXED_SPLIT = VAL_SPLIT
VAL_METRICS_INDEX = "ix_metrics_val_name_job_step"


_STATE = String(16)


# Named constraints: later revisions can drop/alter them by name, also on SQLite (batch mode).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Experiment(Base):
    """One experiment (e.g. `ensemble_ava` at scale demo). The name is the key: submitting
    the same name again updates its config and re-plans, reusing finished jobs."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(16))  # "ava" | "kinetics"
    scale: Mapped[str] = mapped_column(String(32))  # "paper" | "demo" | ...
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    runs_root: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    jobs: Mapped[list[Job]] = relationship(back_populates="experiment", cascade="all, delete-orphan",
                                           passive_deletes=True, order_by="Job.id")
    submissions: Mapped[list[Submission]] = relationship(back_populates="experiment",
                                                         cascade="all, delete-orphan",
                                                         passive_deletes=True)

    def __repr__(self) -> str:
        return f"Experiment(id={self.id!r}, name={self.name!r}, task={self.task!r}, scale={self.scale!r})"


class JobDependency(Base):
    """Edge of the DAG: `job_id` needs the artefacts of `depends_on_id`."""

    __tablename__ = "job_dependencies"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"),
                                               primary_key=True, index=True)

    def __repr__(self) -> str:
        return f"JobDependency(job_id={self.job_id!r}, depends_on_id={self.depends_on_id!r})"


class Job(Base):
    """A node of the DAG: one resolved config run by one job kind in one run directory.

    `content_hash` (config + input artefacts) lets a re-plan reuse finished work.
    The metrics ingest cursor (`metrics_offset`, `metrics_lines`) lives here, not on the
    attempt, because metrics.jsonl belongs to the run directory that all attempts append to.
    """

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("experiment_id", "name", name="uq_jobs_experiment_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # pretrain | finetune_ava | evaluate | ensemble | export
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(_STATE, default=JobState.PLANNED.value, index=True)
    run_dir: Mapped[str] = mapped_column(Text)
    resources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reused_from_job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    error: Mapped[Optional[str]] = mapped_column(Text)
    # The FAILED/CANCELLED dependency for which the watcher cancelled this PLANNED job
    # (revision 0004); `retry` plans such jobs again. No foreign key: see the revision.
    blocked_by_job_id: Mapped[Optional[int]] = mapped_column(Integer)
    progress_step: Mapped[Optional[int]] = mapped_column(BigInteger)
    progress_total: Mapped[Optional[int]] = mapped_column(BigInteger)
    progress_message: Mapped[Optional[str]] = mapped_column(Text)
    result: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)  # result.json once the job is done
    # What the planner estimated the job would cost (orchestrator.cost.JobEstimate.to_record):
    # {"unit": "GPU-h"|"core-h", "device_hours", "wall_s", "disk_bytes", ...}; status shows it
    # beside the attempts' measured usage.
    estimate: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    metrics_offset: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes of metrics.jsonl ingested
    metrics_lines: Mapped[int] = mapped_column(BigInteger, default=0)  # complete lines ingested
    metrics_corrupt_lines: Mapped[int] = mapped_column(Integer, default=0)
    metrics_corrupt_first: Mapped[list[Any]] = mapped_column(default=list)  # first line numbers (1-based)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    experiment: Mapped[Experiment] = relationship(back_populates="jobs")
    attempts: Mapped[list[Attempt]] = relationship(back_populates="job", cascade="all, delete-orphan",
                                                   passive_deletes=True, order_by="Attempt.number")
    artifacts: Mapped[list[Artifact]] = relationship(back_populates="job", cascade="all, delete-orphan",
                                                     passive_deletes=True, order_by="Artifact.path")
    dependencies: Mapped[list[Job]] = relationship(
        secondary="job_dependencies",
        primaryjoin="Job.id == JobDependency.job_id",
        secondaryjoin="Job.id == JobDependency.depends_on_id",
        back_populates="dependents",
    )
    dependents: Mapped[list[Job]] = relationship(
        secondary="job_dependencies",
        primaryjoin="Job.id == JobDependency.depends_on_id",
        secondaryjoin="Job.id == JobDependency.job_id",
        back_populates="dependencies",
    )
    reused_from: Mapped[Optional[Job]] = relationship(remote_side="Job.id")

    @property
    def latest_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, name={self.name!r}, kind={self.kind!r}, state={self.state!r})"


class Attempt(Base):
    """One submission of a job to an executor (a SLURM job id, or a local process)."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_attempts_job_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the job
    executor: Mapped[str] = mapped_column(String(16))  # "local" | "slurm"
    scheduler_job_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(_STATE, default=JobState.SUBMITTED.value)
    node: Mapped[Optional[str]] = mapped_column(String(200))
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column()
    started_at: Mapped[Optional[dt.datetime]] = mapped_column()
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column()
    exit_code: Mapped[Optional[int]] = mapped_column(Integer)
    reason: Mapped[Optional[str]] = mapped_column(Text)
    resumed_from_step: Mapped[Optional[int]] = mapped_column(BigInteger)
    # What the attempt's allocation used, in device-seconds: SLURM's accounting (sacct
    # ElapsedRaw x allocated GPUs / CPUs, summed over the runs of a requeued job), or for a
    # local process its wall time x the GPUs and CPUs it asked for. NULL until known.
    gpu_seconds: Mapped[Optional[int]] = mapped_column(BigInteger)
    cpu_seconds: Mapped[Optional[int]] = mapped_column(BigInteger)

    job: Mapped[Job] = relationship(back_populates="attempts")
    transitions: Mapped[list[AttemptTransition]] = relationship(
        back_populates="attempt", cascade="all, delete-orphan", passive_deletes=True,
        order_by="AttemptTransition.id")

    def record_transition(self, state: JobState | str, *, reason: str | None = None,
                          at: dt.datetime | None = None) -> AttemptTransition:
        """Set the attempt's state and append it to its history (caller commits)."""
        value = JobState(state).value
        transition = AttemptTransition(state=value, reason=reason, at=at or utcnow())
        self.transitions.append(transition)
        self.state = value
        if reason is not None:
            self.reason = reason
        return transition

    def __repr__(self) -> str:
        return (f"Attempt(id={self.id!r}, job_id={self.job_id!r}, number={self.number!r}, "
                f"state={self.state!r}, scheduler_job_id={self.scheduler_job_id!r})")


class AttemptTransition(Base):
    """History of an attempt's states (PENDING -> RUNNING -> PREEMPTED ...), for the dashboard."""

    __tablename__ = "attempt_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(_STATE)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[Optional[str]] = mapped_column(Text)

    attempt: Mapped[Attempt] = relationship(back_populates="transitions")

    def __repr__(self) -> str:
        return f"AttemptTransition(attempt_id={self.attempt_id!r}, state={self.state!r}, at={self.at!r})"


class Metric(Base):
    """One scalar from metrics.jsonl, keyed by (job, split, name, step): a resumed attempt
    rewrites the same steps with the same values, and re-ingest must never duplicate.

    Why no surrogate id and only one secondary index (revision 0002): this is the table that
    grows without bound and every ingested line is one row, so each B-tree costs ingest speed.
    The natural key is the primary key (SQLite: a WITHOUT ROWID table, one B-tree), which serves
    every per-job read (curves, per-class AP). The only cross-job reads (leaderboard, status:
    "latest val metric of every job") use a partial index over the `val` rows alone, so the
    training-curve rows, the bulk of the table, never touch it.
    """

    __tablename__ = "metrics"
    __table_args__ = (
        PrimaryKeyConstraint("job_id", "split", "name", "step", name="pk_metrics"),
        Index(VAL_METRICS_INDEX, "name", "job_id", "step",
              sqlite_where=text(f"split = '{INDEXED_SPLIT}'"), postgresql_where=text(f"split = '{INDEXED_SPLIT}'")),
        {"sqlite_with_rowid": False},
    )

    # The job of the row; deliberately no foreign key (revision 0005): its check ran at every
    # ingested row (on PostgreSQL 40% of the insert), while ingest, the only writer, writes rows
    # of a job it has just read. A trigger on `jobs` deletes a deleted job's metrics instead.
    job_id: Mapped[int] = mapped_column(Integer)
    # The attempt that wrote the row; deliberately no foreign key (revision 0002): attempts go
    # only with their job, and the check cost a third of PostgreSQL's COPY time.
    attempt_id: Mapped[Optional[int]] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(BigInteger)
    split: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[float] = mapped_column(Float)
    time: Mapped[Optional[float]] = mapped_column(Float)  # unix seconds, as written by the job

    def __repr__(self) -> str:
        return (f"Metric(job_id={self.job_id!r}, step={self.step!r}, split={self.split!r}, "
                f"name={self.name!r}, value={self.value!r})")


class Artifact(Base):
    """A file a job produced (checkpoint, predictions, metrics, submission), with its hash."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "path", name="uq_artifacts_job_path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the job's run_dir
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[Optional[int]] = mapped_column(BigInteger)  # skip re-hashing unchanged files
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="artifacts")

    def __repr__(self) -> str:
        return f"Artifact(job_id={self.job_id!r}, path={self.path!r}, kind={self.kind!r}, bytes={self.bytes!r})"


class Submission(Base):
    """An exported test-server file, its validation report and the provenance of its members."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))  # "ava_csv" | "kinetics_json"
    sha256: Mapped[Optional[str]] = mapped_column(String(64))
    validation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    members: Mapped[dict[str, Any]] = mapped_column(default=dict)
    manifest_path: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    experiment: Mapped[Experiment] = relationship(back_populates="submissions")

    def __repr__(self) -> str:
        return f"Submission(id={self.id!r}, path={self.path!r}, format={self.format!r}, ok={self.ok!r})"


class WatcherLease(Base):
    """A time-bounded lock so that two watchers never submit the same experiment twice.
    Use `orchestrator.db.lease` rather than writing rows by hand."""

    __tablename__ = "watcher_leases"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. "experiment:ensemble_ava"
    owner: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()

    def __repr__(self) -> str:
        return f"WatcherLease(key={self.key!r}, owner={self.owner!r}, expires_at={self.expires_at!r})"
