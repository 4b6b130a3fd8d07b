"""``query_states``: one batched accounting call per watcher poll, honest about failures."""

from __future__ import annotations

from typing import Sequence

from .commands import SlurmCommandError, run_slurm_command
from .controller import parse_scontrol_jobs
from .records import UNKNOWN, SchedulerRecord
from .sacct import JOB_ID_PATTERN, SACCT_FORMAT, parse_sacct

# Keeps the argument list far below ARG_MAX even for thousands of ids.
MAX_IDS_PER_CALL = 500


class InvalidJobIdError(ValueError):
    """A job id that is not a SLURM job id (``123``, ``123_4``, ``123+1``)."""


def _sacct(job_ids: Sequence[str], timeout_s: float) -> dict[str, SchedulerRecord]:
    records: dict[str, SchedulerRecord] = {}
    for offset in range(0, len(job_ids), MAX_IDS_PER_CALL):
        chunk = job_ids[offset:offset + MAX_IDS_PER_CALL]
        output = run_slurm_command(
            ["sacct", "--duplicates", "--parsable2", "--noheader", f"--format={SACCT_FORMAT}",
             f"--jobs={','.join(chunk)}"], timeout_s)
        records.update(parse_sacct(output))
    return records


# Up to this many ids are asked one by one; beyond, one call lists every job the controller
# holds (on a large shared cluster that listing is big, so it is the exception).
MAX_IDS_ASKED_SINGLY = 20


def _controller(job_ids: Sequence[str], why: str, timeout_s: float) -> dict[str, SchedulerRecord]:
    """What slurmctld says about ``job_ids`` (uncertain records); ids it does not hold are left out."""
    if len(job_ids) > MAX_IDS_ASKED_SINGLY:
        calls = [["scontrol", "show", "job", "-o"]]
    else:
        calls = [["scontrol", "show", "job", "-o", job_id] for job_id in job_ids]
    records: dict[str, SchedulerRecord] = {}
    for argv in calls:
        try:
            records.update(parse_scontrol_jobs(run_slurm_command(argv, timeout_s), why))
        except SlurmCommandError:
            continue  # "Invalid job id specified", or the controller is down too
    return records


def query_states(job_ids: Sequence[str], timeout_s: float = 30.0) -> dict[str, SchedulerRecord]:
    """The latest run of each job in ``job_ids``, keyed by the id as given.

    One ``sacct -D`` call (per 500 ids). When sacct fails (slurmdbd down, timeout),
    ``scontrol show job -o`` answers for the jobs the controller still holds; those
    records, and UNKNOWN records for ids nobody could answer for, are ``uncertain=True``.
    When sacct answers but does not list an id (accounting lags ~1 s behind sbatch), the
    controller is asked about it; an id that neither knows is left out of the result:
    that is the only case the caller may treat as "the scheduler has no such job".
    """
    ids = list(dict.fromkeys(str(job_id).strip() for job_id in job_ids))
    for job_id in ids:
        if not JOB_ID_PATTERN.match(job_id):
            raise InvalidJobIdError(f"not a SLURM job id: {job_id!r}")
    if not ids:
        return {}
    try:
        records = _sacct(ids, timeout_s)
    except SlurmCommandError as error:
        why = f"sacct failed ({error.detail}); state from slurmctld"
        known = _controller(ids, why, timeout_s)
        return {job_id: known.get(job_id) or SchedulerRecord(
                    job_id=job_id, state=UNKNOWN, uncertain=True,
                    reason=f"sacct failed ({error.detail}) and slurmctld does not list the job")
                for job_id in ids}
    missing = [job_id for job_id in ids if job_id not in records]
    if missing:
        known = _controller(missing, "not in accounting yet; state from slurmctld", timeout_s)
        records.update({job_id: known[job_id] for job_id in missing if job_id in known})
    return {job_id: records[job_id] for job_id in ids if job_id in records}
