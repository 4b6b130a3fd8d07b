"""Parse ``sacct -D --parsable2 --noheader`` output into one SchedulerRecord per job.

sacct prints one row per allocation *run* (``-D``: a requeued job has one row per run, in
run order) followed by that run's steps (``123.batch``, ``123.0``, ``123.extern``). The
allocation row carries the job's state; a step row only adds evidence the allocation row
may lack (a step killed ``OUT_OF_MEMORY`` under a ``FAILED`` allocation). Array tasks
(``123_4``) and heterogeneous components (``123+0``) are ids of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from .records import FAILED, PENDING, SchedulerRecord, map_slurm_state

# Order matters: parse_sacct reads columns by position. Elapsed is taken as ElapsedRaw
# (seconds) so that "1-02:03:04" never has to be parsed. Restarts is not a sacct field in
# Slurm 22.05; it is the number of earlier runs that -D lists.
SACCT_FIELDS = ("JobID", "State", "ExitCode", "NodeList", "Start", "End", "ElapsedRaw",
                "AllocCPUS", "AllocTRES", "Reason")
SACCT_FORMAT = ",".join(SACCT_FIELDS)

JOB_ID_PATTERN = re.compile(r"^\d+(?:_\d+)?(?:\+\d+)?$")
# A pending job array is one row for all its not-yet-started tasks: "20_[0-3,7%2]".
PENDING_ARRAY_PATTERN = re.compile(r"^(\d+)_\[([0-9,\-%]+)\]$")
_NO_NODE = {"", "None assigned", "(null)", "None"}
_NO_TIME = {"", "Unknown", "None", "N/A"}


class SacctFormatError(ValueError):
    """A sacct row does not have the columns SACCT_FORMAT asks for."""

    def __init__(self, line_number: int, line: str, detail: str) -> None:
        super().__init__(f"sacct output line {line_number}: {detail}: {line!r}")
        self.line_number = line_number


@dataclass
class _Run:
    """One allocation run of a job while parsing (mutable, private)."""

    columns: dict[str, str]
    step_states: list[str] = field(default_factory=list)


def _time(text: str) -> datetime | None:
    if text in _NO_TIME:
        return None
    # sacct prints local time without an offset; make it aware so it compares with UTC.
    return datetime.fromisoformat(text).astimezone()


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def parse_alloc_tres(text: str) -> dict[str, str]:
    """``"billing=1,cpu=2,gres/gpu=1,mem=2G,node=1"`` -> {"cpu": "2", "gres/gpu": "1", ...}."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def gpus_from_tres(tres: dict[str, str]) -> int:
    """GPUs in an AllocTRES: the untyped ``gres/gpu`` count, else the sum of typed ones."""
    if "gres/gpu" in tres:
        return _int(tres["gres/gpu"]) or 0
    return sum(_int(value) or 0 for key, value in tres.items() if key.startswith("gres/gpu:"))


def array_task_ids(spec: str) -> list[int]:
    """``"0-3,7%2"`` (SLURM array spec, ``%`` throttle ignored) -> [0, 1, 2, 3, 7]."""
    tasks: list[int] = []
    for part in spec.split("%", 1)[0].split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            tasks.extend(range(int(first), int(last or first) + 1))
    return tasks


def expand_pending_arrays(records: dict[str, SchedulerRecord]) -> dict[str, SchedulerRecord]:
    """Add one record per task (``20_0``, ``20_1``) for each pending-array row ``20_[0-1]``.

    Tasks that already have a row of their own keep it.
    """
    expanded = dict(records)
    for key, record in records.items():
        match = PENDING_ARRAY_PATTERN.match(key)
        if match:
            for task in array_task_ids(match.group(2)):
                task_id = f"{match.group(1)}_{task}"
                expanded.setdefault(task_id, replace(record, job_id=task_id))
    return expanded


def _record(job_id: str, runs: list[_Run]) -> SchedulerRecord:
    latest = runs[-1].columns
    state, reason, uncertain = map_slurm_state(latest["State"])
    if state == FAILED and not reason:
        if any(step.startswith("OUT_OF_MEMORY") for step in runs[-1].step_states):
            reason = "out of memory (a step ended OUT_OF_MEMORY)"
        else:
            reason = f"exit code {latest['ExitCode']}"
    if state == PENDING and latest["Reason"] not in ("", "None"):
        reason = latest["Reason"]
    total_elapsed = total_gpu = total_cpu = 0
    for run in runs:
        tres = parse_alloc_tres(run.columns["AllocTRES"])
        elapsed = _int(run.columns["ElapsedRaw"]) or 0
        cpus = _int(tres.get("cpu", "")) or _int(run.columns["AllocCPUS"]) or 0
        total_elapsed += elapsed
        total_gpu += elapsed * gpus_from_tres(tres)
        total_cpu += elapsed * cpus
    tres = parse_alloc_tres(latest["AllocTRES"])
    node = latest["NodeList"]
    return SchedulerRecord(
        job_id=job_id,
        state=state,
        exit_code=latest["ExitCode"] or None,
        node=None if node in _NO_NODE else node,
        start=_time(latest["Start"]),
        end=_time(latest["End"]),
        elapsed_s=_int(latest["ElapsedRaw"]),
        restarts=len(runs) - 1,
        reason=reason,
        uncertain=uncertain,
        alloc_gpus=gpus_from_tres(tres),
        alloc_cpus=_int(tres.get("cpu", "")) or _int(latest["AllocCPUS"]) or 0,
        total_elapsed_s=total_elapsed,
        total_gpu_s=total_gpu,
        total_cpu_s=total_cpu,
        raw_state=latest["State"],
    )


def parse_sacct(text: str) -> dict[str, SchedulerRecord]:
    """sacct output (SACCT_FORMAT, ``--parsable2 --noheader -D``) -> {job id: latest run}.

    A pending array row ``20_[0-1]`` is kept under that key and also answers for each task.

    Raises SacctFormatError naming the line when a row has the wrong number of columns or a
    step row comes before any allocation row of its job.
    """
    runs: dict[str, list[_Run]] = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        values = line.split("|")
        if len(values) != len(SACCT_FIELDS):
            raise SacctFormatError(line_number, line,
                                   f"expected {len(SACCT_FIELDS)} columns ({SACCT_FORMAT}), got {len(values)}")
        columns = dict(zip(SACCT_FIELDS, values))
        job_id, _, step = columns["JobID"].partition(".")
        if not (JOB_ID_PATTERN.match(job_id) or PENDING_ARRAY_PATTERN.match(job_id)):
            raise SacctFormatError(line_number, line, f"unexpected JobID {columns['JobID']!r}")
        if not step:
            runs.setdefault(job_id, []).append(_Run(columns))
        elif job_id in runs:
            runs[job_id][-1].step_states.append(columns["State"])
        else:
            raise SacctFormatError(line_number, line, f"step of job {job_id} before its allocation row")
    return expand_pending_arrays({job_id: _record(job_id, job_runs) for job_id, job_runs in runs.items()})
