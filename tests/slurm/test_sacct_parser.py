"""Parsing of sacct / scontrol output recorded on the local cluster (Slurm 22.05.8).

tests/slurm/recorded/*.txt are verbatim outputs of
``sacct -D --parsable2 --noheader --format=<SACCT_FORMAT> -j ...`` and ``scontrol show job -o``
for jobs that: completed (1), failed with exit status 1 (2), were checkpointed by SIGUSR2
and requeued once (3, 16), hit a 1-minute time limit (4), were cancelled by root (14),
ran / waited for resources (18, 19) and a pending 2-task array (20). The expected values
below are read off those rows by eye (e.g. job 3: two allocation rows of 8 s and 13 s).
These tests need no cluster.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.slurm import SacctFormatError, map_slurm_state, parse_sacct
from orchestrator.slurm.controller import parse_scontrol_jobs, parse_scontrol_line
from orchestrator.slurm.sacct import SACCT_FIELDS, array_task_ids, gpus_from_tres, parse_alloc_tres

RECORDED = Path(__file__).parent / "recorded"


@pytest.fixture(scope="module")
def finished():
    return parse_sacct((RECORDED / "sacct_finished.txt").read_text())


@pytest.fixture(scope="module")
def live():
    return parse_sacct((RECORDED / "sacct_live.txt").read_text())


def test_one_record_per_job_steps_folded_in(finished):
    assert sorted(finished, key=int) == ["1", "2", "3", "4", "14", "16"]


def test_completed_job(finished):
    record = finished["1"]
    assert (record.state, record.exit_code, record.node, record.restarts) == ("COMPLETED", "0:0", "vm", 0)
    assert (record.elapsed_s, record.alloc_cpus, record.alloc_gpus, record.uncertain) == (1, 1, 0, False)
    assert (record.end - record.start).total_seconds() == 1
    assert record.start.tzinfo is not None


def test_failed_job_keeps_exit_code(finished):
    record = finished["2"]
    assert (record.state, record.exit_code, record.exit_status) == ("FAILED", "1:0", 1)
    assert "exit code 1:0" in record.reason


def test_requeued_job_keeps_latest_run_and_counts_restarts(finished):
    record = finished["3"]
    assert (record.state, record.restarts, record.elapsed_s) == ("COMPLETED", 1, 13)
    assert record.start.strftime("%H:%M:%S") == "19:04:58"  # sacct prints local time
    # The preempted run is still charged: 8 s + 13 s on one CPU.
    assert (record.total_elapsed_s, record.total_cpu_s) == (21, 21)
    assert finished["16"].restarts == 1 and finished["16"].total_elapsed_s == 24 + 10


def test_timeout_and_cancelled_by_root(finished):
    assert (finished["4"].state, finished["4"].elapsed_s) == ("TIMEOUT", 61)
    assert finished["4"].reason == "time limit reached"
    assert finished["14"].state == "CANCELLED"
    assert finished["14"].reason == "cancelled by uid 0"
    assert finished["14"].raw_state == "CANCELLED by 0"


def test_running_pending_and_pending_array(live):
    assert (live["18"].state, live["18"].alloc_cpus, live["18"].end) == ("RUNNING", 2, None)
    assert (live["19"].state, live["19"].node, live["19"].start) == ("PENDING", None, None)
    # One "20_[0-1]" row answers for both tasks, as submitit names them.
    assert live["20_0"].state == live["20_1"].state == "PENDING"
    assert live["20_1"].job_id == "20_1"


def test_step_out_of_memory_gives_failed_with_reason():
    # Built from the recorded row layout; the local node does not enforce memory limits.
    row = "7|{state}|0:125|vm|2026-11-25T19:04:34|2026-11-25T19:04:40|6|2|billing=2,cpu=2,gres/gpu=1,mem=2G,node=1|None"
    text = "\n".join([row.format(state="FAILED"), row.replace("7|", "7.batch|", 1).format(state="OUT_OF_MEMORY")])
    record = parse_sacct(text)["7"]
    assert record.state == "FAILED" and "out of memory" in record.reason
    assert (record.alloc_gpus, record.total_gpu_s, record.gpu_hours) == (1, 6, 6 / 3600)
    assert parse_sacct(row.format(state="OUT_OF_MEMORY"))["7"].reason == "out of memory (OUT_OF_MEMORY)"


@pytest.mark.parametrize("raw, expected", [
    ("PENDING", "PENDING"), ("RUNNING", "RUNNING"), ("COMPLETING", "RUNNING"), ("REQUEUED", "REQUEUED"),
    ("PREEMPTED", "PREEMPTED"), ("TIMEOUT", "TIMEOUT"), ("DEADLINE", "TIMEOUT"), ("NODE_FAIL", "NODE_FAIL"),
    ("BOOT_FAIL", "NODE_FAIL"), ("COMPLETED", "COMPLETED"), ("FAILED", "FAILED"),
    ("OUT_OF_MEMORY", "FAILED"), ("CANCELLED by 1000", "CANCELLED"), ("CANCELLED+", "CANCELLED"),
])
def test_state_mapping(raw, expected):
    state, _, uncertain = map_slurm_state(raw)
    assert (state, uncertain) == (expected, False)


def test_unknown_state_word_is_uncertain_not_guessed():
    assert map_slurm_state("LAUNCH_FAILED_SOMEHOW") == ("UNKNOWN", "unrecognised SLURM state 'LAUNCH_FAILED_SOMEHOW'", True)


def test_tres_parsing():
    tres = parse_alloc_tres("billing=8,cpu=8,gres/gpu:a100=2,gres/gpu:v100=1,mem=64G,node=1")
    assert tres["cpu"] == "8" and gpus_from_tres(tres) == 3
    assert gpus_from_tres(parse_alloc_tres("cpu=8,gres/gpu=4,gres/gpu:a100=4")) == 4
    assert gpus_from_tres(parse_alloc_tres("")) == 0


def test_array_task_spec():
    assert array_task_ids("0-3,7%2") == [0, 1, 2, 3, 7]


@pytest.mark.parametrize("text, line, words", [
    ("1|COMPLETED|0:0", 1, "expected 10 columns"),
    ("\n" + "x1|" + "|" * (len(SACCT_FIELDS) - 2), 2, "unexpected JobID"),
    ("5.batch" + "|" * (len(SACCT_FIELDS) - 1), 1, "before its allocation row"),
])
def test_malformed_rows_name_the_line(text, line, words):
    with pytest.raises(SacctFormatError, match=f"line {line}: .*{words}"):
        parse_sacct(text)


def test_scontrol_fallback_records_are_uncertain():
    records = parse_scontrol_jobs((RECORDED / "scontrol_show_job.txt").read_text(), "sacct failed")
    failed = records["17"]
    assert (failed.state, failed.exit_code, failed.uncertain) == ("FAILED", "1:0", True)
    assert "sacct failed" in failed.reason
    assert (records["10"].restarts, records["10"].elapsed_s) == (1, 14)
    assert records["19"].state == "PENDING" and records["19"].reason.startswith("Resources")
    assert records["20_0"].state == records["20_1"].state == "PENDING"


def test_scontrol_line_values_may_contain_spaces():
    fields = parse_scontrol_line("JobId=5 JobName=my job Command=/a b/c.sh StdErr=/x")
    assert fields == {"JobId": "5", "JobName": "my job", "Command": "/a b/c.sh", "StdErr": "/x"}
