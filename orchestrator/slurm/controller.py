"""Job states from the controller (``scontrol show job -o``) when accounting cannot answer.

sacct reads slurmdbd; when slurmdbd or its database is down, or a job submitted a moment
ago is not in accounting yet, slurmctld still knows every job it holds in memory (running
ones, and finished ones for MinJobAge seconds). One ``scontrol show job -o`` call lists all
of them, one line per job. These answers are partial (no earlier runs, no steps), so every
record made here is ``uncertain=True``.
"""

from __future__ import annotations

import re
from datetime import datetime

from .records import SchedulerRecord, map_slurm_state
from .sacct import expand_pending_arrays, gpus_from_tres, parse_alloc_tres

# Keys look like "JobId", "AllocNode:Sid", "CPUs/Task"; a value runs to the next key.
_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")


def parse_scontrol_line(line: str) -> dict[str, str]:
    """``"JobId=17 JobState=FAILED Reason=NonZeroExitCode ..."`` -> {"JobId": "17", ...}."""
    matches = list(_KEY.finditer(line))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        fields[match.group(1)] = line[match.end():end].strip()
    return fields


def _time(text: str | None) -> datetime | None:
    if not text or text in ("Unknown", "None", "N/A"):
        return None
    return datetime.fromisoformat(text).astimezone()


def _seconds(text: str | None) -> int | None:
    """``"1-02:03:04"`` / ``"02:03:04"`` / ``"03:04"`` -> seconds."""
    if not text or not re.match(r"^(\d+-)?\d+(:\d+){1,2}$", text):
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def _job_id(fields: dict[str, str]) -> str:
    task = fields.get("ArrayTaskId")
    if task and fields.get("ArrayJobId"):
        # Pending tasks are one line, "ArrayTaskId=0-3": keyed like sacct's "20_[0-3]".
        return f"{fields['ArrayJobId']}_{task if task.isdigit() else '[' + task + ']'}"
    if fields.get("HetJobId") and fields.get("HetJobOffset"):
        return f"{fields['HetJobId']}+{fields['HetJobOffset']}"
    return fields.get("JobId", "")


def parse_scontrol_jobs(text: str, why: str) -> dict[str, SchedulerRecord]:
    """All jobs in ``scontrol show job -o`` output -> uncertain records; ``why`` goes in reason."""
    records: dict[str, SchedulerRecord] = {}
    for line in text.splitlines():
        if "JobId=" not in line:
            continue  # "No jobs in the system"
        fields = parse_scontrol_line(line)
        job_id = _job_id(fields)
        state, reason, _ = map_slurm_state(fields.get("JobState", ""))
        if fields.get("Reason") not in (None, "", "None"):
            reason = reason or fields["Reason"]
        tres = parse_alloc_tres(fields.get("TRES", ""))
        node = fields.get("NodeList", "")
        elapsed = _seconds(fields.get("RunTime"))
        cpus = int(fields["NumCPUs"]) if fields.get("NumCPUs", "").isdigit() else 0
        gpus = gpus_from_tres(tres)
        records[job_id] = SchedulerRecord(
            job_id=job_id,
            state=state,
            exit_code=fields.get("ExitCode") or None,
            node=None if node in ("", "(null)") else node,
            start=_time(fields.get("StartTime")),
            end=_time(fields.get("EndTime")),
            elapsed_s=elapsed,
            restarts=int(fields["Restarts"]) if fields.get("Restarts", "").isdigit() else 0,
            reason=f"{reason}; {why}" if reason else why,
            uncertain=True,
            alloc_gpus=gpus,
            alloc_cpus=cpus,
            total_elapsed_s=elapsed or 0,
            total_gpu_s=(elapsed or 0) * gpus,
            total_cpu_s=(elapsed or 0) * cpus,
            raw_state=fields.get("JobState", ""),
        )
    return expand_pending_arrays(records)
