"""Record a plan in the database (one transaction) and write each job's config.yaml.

Re-submitting an experiment is safe and cheap:

* a job whose name and content hash are unchanged keeps its row and state (finished work
  stays finished, running work is not submitted twice, a FAILED job waits for ``retry``);
* a job whose content hash changed is re-planned: its old run dir is moved aside to
  ``<experiment>/.superseded/<job>-<old hash>`` (its checkpoints belong to another config
  and must not be resumed) and the row goes back to PLANNED;
* a new job whose hash matches a COMPLETED job anywhere in the database is REUSED: it
  points at that job's run dir, whose artefacts its dependents then read.

Inputs become absolute paths here, once every upstream's run dir is known.
The database is written in one transaction (all or nothing); config files are written
atomically (tmp + fsync + rename) just before the commit, only for jobs that will run.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from contract.files import atomic_write_text
from contract.states import TERMINAL_STATES, JobState
from orchestrator.db.models import Experiment, Job
from orchestrator.planner.dag import Plan, PlannedJob


@dataclass
class RecordReport:
    """How each job of the plan was recorded: "new", "kept", "replanned" or "reused"."""

    experiment_id: int = 0
    outcome: dict[str, str] = field(default_factory=dict)
    run_dirs: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for value in self.outcome.values() if value == outcome)


def run_dir_for(plan: Plan, job_name: str) -> Path:
    return plan.runs_root / plan.experiment / job_name


def resolve_inputs(job: PlannedJob, run_dirs: dict[str, str]) -> dict[str, Any]:
    def absolute(ref: tuple[str, str]) -> str:
        upstream, relative = ref
        return str(Path(run_dirs[upstream]) / relative)

    return {role: ({key: absolute(r) for key, r in ref.items()} if isinstance(ref, dict) else absolute(ref))
            for role, ref in job.inputs.items()}


_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10x faster than pure Python


def render_config(config: dict[str, Any]) -> str:
    return yaml.dump(config, Dumper=_YAML_DUMPER, sort_keys=False)


def write_config_atomic(path: Path, config: dict[str, Any]) -> bool:
    """Write ``config.yaml`` atomically (``contract.files``: tmp in the same dir, fsync,
    rename, fsync of the directory).

    Returns False without touching the file when it already holds exactly this config
    (re-submitting an experiment rewrites nothing).
    """
    text = render_config(config)
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    atomic_write_text(path, text)
    return True


def write_configs(configs: list[tuple[Path, dict[str, Any]]]) -> None:
    """Write many config files; the fsyncs run concurrently so the filesystem journal can
    commit them together instead of one journal commit per file."""
    if len(configs) <= 1:
        for path, config in configs:
            write_config_atomic(path, config)
        return
    with ThreadPoolExecutor(max_workers=min(8, len(configs))) as pool:
        for future in [pool.submit(write_config_atomic, path, config) for path, config in configs]:
            future.result()  # re-raise the first error: the caller's transaction rolls back


def record_plan(session: Session, plan: Plan, *, estimates: Mapping[str, dict[str, Any]] | None = None
                ) -> RecordReport:
    """Insert/update the experiment and its jobs; the caller's transaction commits.

    ``estimates``: job name -> its cost estimate (``orchestrator.cost.JobEstimate.to_record``),
    stored on the job row for ``status``; a job without one keeps NULL."""
    report = RecordReport()
    experiment = session.scalars(
        select(Experiment).where(Experiment.name == plan.experiment)
        .options(selectinload(Experiment.jobs).selectinload(Job.dependencies))).one_or_none()
    if experiment is None:
        experiment = Experiment(name=plan.experiment, task=plan.task, scale=plan.scale, config=plan.config,
                                runs_root=str(plan.runs_root))
        session.add(experiment)
    else:
        experiment.task, experiment.scale, experiment.config = plan.task, plan.scale, plan.config
        experiment.runs_root = str(plan.runs_root)
    existing = {job.name: job for job in experiment.jobs}
    finished_by_hash = _finished_jobs_by_hash(session, [job.content_hash for job in plan.jobs])
    rows: dict[str, Job] = {}
    pending_configs: list[tuple[Path, dict[str, Any]]] = []
    moves: list[tuple[Path, Path]] = []
    for planned in plan.jobs:
        row = existing.get(planned.name)
        own_dir = run_dir_for(plan, planned.name)
        if row is not None and row.content_hash == planned.content_hash:
            report.outcome[planned.name] = "kept"
        elif row is None and planned.content_hash in finished_by_hash:
            source = finished_by_hash[planned.content_hash]
            row = Job(name=planned.name, kind=planned.kind, content_hash=planned.content_hash,
                      run_dir=source.run_dir, state=JobState.REUSED.value, reused_from_job_id=source.id,
                      result=source.result)
            experiment.jobs.append(row)
            report.outcome[planned.name] = "reused"
        elif row is None:
            row = Job(name=planned.name, kind=planned.kind, content_hash=planned.content_hash,
                      run_dir=str(own_dir), state=JobState.PLANNED.value)
            experiment.jobs.append(row)
            report.outcome[planned.name] = "new"
        else:
            if row.state not in TERMINAL_STATES and row.state != JobState.PLANNED:
                raise ValueError(f"{planned.name} is {row.state} with another config; cancel it before re-planning")
            if Path(row.run_dir) == own_dir and own_dir.exists():
                moves.append((own_dir, plan.runs_root / plan.experiment / ".superseded"
                              / f"{planned.name}-{row.content_hash[:12]}"))
            row.content_hash, row.run_dir, row.state = planned.content_hash, str(own_dir), JobState.PLANNED.value
            row.error, row.result, row.reused_from_job_id, row.blocked_by_job_id = None, None, None, None
            row.progress_step = row.progress_total = None
            row.metrics_offset = row.metrics_lines = 0
            report.outcome[planned.name] = "replanned"
        rows[planned.name] = row
        report.run_dirs[planned.name] = row.run_dir
        config = {**planned.config, "inputs": resolve_inputs(planned, report.run_dirs)}
        row.kind, row.config, row.resources = planned.kind, config, planned.resources
        if estimates is not None:
            row.estimate = estimates.get(planned.name)
        if report.outcome[planned.name] in ("new", "replanned") or row.state == JobState.PLANNED.value:
            pending_configs.append((own_dir / "config.yaml", config))
    for planned in plan.jobs:
        wanted = [rows[name] for name in planned.dependencies]
        if [dep.name for dep in rows[planned.name].dependencies] != [dep.name for dep in wanted]:
            rows[planned.name].dependencies = wanted
    session.flush()
    for source, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
    write_configs(pending_configs)
    report.experiment_id = experiment.id
    return report


def _finished_jobs_by_hash(session: Session, hashes: list[str]) -> dict[str, Job]:
    rows = session.scalars(select(Job).where(Job.content_hash.in_(hashes), Job.state == JobState.COMPLETED.value)
                           .order_by(Job.id))
    found: dict[str, Job] = {}
    for job in rows:
        found.setdefault(job.content_hash, job)
    return found
