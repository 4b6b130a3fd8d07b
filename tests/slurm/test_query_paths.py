"""query_states' choice of commands, with the SLURM clients replaced by recorded answers.

The real-cluster tests cover sacct answering and sacct failing; the moment between sbatch
and the job's first accounting row (about 1 s) cannot be hit on purpose there, so the
command runner is replaced here (the parsing is the real one, on recorded output).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.slurm import query
from orchestrator.slurm.commands import SlurmCommandError

RECORDED = Path(__file__).parent / "recorded"
SCONTROL_BY_ID = {line.split()[0].removeprefix("JobId="): line
                  for line in (RECORDED / "scontrol_show_job.txt").read_text().splitlines()}


@pytest.fixture
def calls(monkeypatch):
    made: list[list[str]] = []

    def fake_run(argv, timeout_s=30.0):
        made.append(list(argv))
        if argv[0] == "sacct":
            return (RECORDED / "sacct_finished.txt").read_text()  # jobs 1-4, 14, 16 only
        if argv[:4] == ["scontrol", "show", "job", "-o"] and len(argv) == 5:
            if argv[4] not in SCONTROL_BY_ID:
                raise SlurmCommandError(argv, "exit status 1: Invalid job id specified")
            return SCONTROL_BY_ID[argv[4]] + "\n"
        raise AssertionError(f"unexpected command {argv}")

    monkeypatch.setattr(query, "run_slurm_command", fake_run)
    return made


def test_ids_missing_from_accounting_are_asked_of_the_controller_one_by_one(calls):
    records = query.query_states(["1", "19", "424242"])
    assert [argv[0] for argv in calls] == ["sacct", "scontrol", "scontrol"]
    assert calls[0][-1] == "--jobs=1,19,424242" and "--duplicates" in calls[0]
    assert (records["1"].state, records["1"].uncertain) == ("COMPLETED", False)
    assert (records["19"].state, records["19"].uncertain) == ("PENDING", True)
    assert "not in accounting yet" in records["19"].reason
    assert "424242" not in records


def test_every_id_is_listed_once_and_in_one_sacct_call(calls):
    query.query_states(["1", "2", "1", " 3 "])
    assert calls == [calls[0]] and calls[0][-1] == "--jobs=1,2,3"
