"""The real local cluster: submitit jobs observed through ``query_states``.

Needs scripts/slurm/start-local-cluster.sh to have run; fails (never skips) otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import submitit

from contract.processes import process_is_gone
from orchestrator.slurm import InvalidJobIdError, check_cluster, cluster_healthy, query_states
from tests.fixtures_slurm import START_SCRIPT, wait_for_record, wait_for_state
from tests.slurm.submitted_jobs import StepCounter, double, fail_deliberately, sleep_for

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def _executor(folder: Path, cluster, **overrides) -> submitit.AutoExecutor:
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(**cluster.submitit_parameters(**overrides))
    return executor


def test_start_script_is_a_no_op_on_a_healthy_cluster(slurm_cluster):
    completed = subprocess.run(["bash", str(START_SCRIPT)], capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr
    for daemon in ("munged", "slurmdbd", "slurmctld", "slurmd"):
        assert f"{daemon}: already running" in completed.stdout
    assert "started" not in completed.stdout.replace("already running", "")
    assert cluster_healthy()


def test_completed_job(slurm_cluster, tmp_path):
    job = _executor(tmp_path, slurm_cluster).submit(double, 21)
    assert job.result() == 42
    record = wait_for_state(job.job_id, {"COMPLETED"}, timeout_s=30)
    assert (record.exit_code, record.node, record.restarts, record.uncertain) == ("0:0", slurm_cluster.node, 0, False)
    assert record.start is not None and record.end is not None and record.end >= record.start
    assert record.alloc_cpus == 1 and record.alloc_gpus == 0 and record.gpu_hours == 0


def test_failing_job_is_failed_with_its_exit_code(slurm_cluster, tmp_path):
    job = _executor(tmp_path, slurm_cluster).submit(fail_deliberately, "bad config")
    with pytest.raises(submitit.core.utils.FailedJobError, match="bad config"):
        job.result()
    record = wait_for_state(job.job_id, {"FAILED"}, timeout_s=30)
    assert record.exit_status == 1 and "exit code 1" in record.reason


def test_cancelled_job(slurm_cluster, tmp_path):
    job = _executor(tmp_path, slurm_cluster).submit(sleep_for, 60)
    wait_for_state(job.job_id, {"PENDING", "RUNNING"}, timeout_s=30)
    job.cancel(check=True)
    record = wait_for_state(job.job_id, {"CANCELLED"}, timeout_s=30)
    assert record.reason == "cancelled by uid 0"


def test_one_batched_query_for_several_jobs(slurm_cluster, tmp_path):
    jobs = _executor(tmp_path, slurm_cluster).map_array(double, [1, 2])
    assert [job.result() for job in jobs] == [2, 4]
    ids = [job.job_id for job in jobs]
    assert all("_" in job_id for job_id in ids)  # array tasks, "<array>_<task>"
    wait_for_record(ids[-1], lambda record: record.state == "COMPLETED" and not record.uncertain, 30)
    records = query_states([*ids, "999999999"])
    assert {job_id: records[job_id].state for job_id in ids} == {job_id: "COMPLETED" for job_id in ids}
    assert "999999999" not in records  # neither accounting nor the controller knows it
    with pytest.raises(InvalidJobIdError):
        query_states(["--allusers"])


@pytest.mark.slow
def test_preempted_checkpointable_job_resumes_from_its_saved_step(slurm_cluster, tmp_path):
    """A job in ``high`` preempts the ``debug`` job; submitit checkpoints on SIGUSR2 and requeues."""
    counter_dir = tmp_path / "counter"
    counter_dir.mkdir()
    total = 16
    # The victim takes every CPU, so the high-priority job can only run by preempting it.
    victim = _executor(tmp_path / "victim", slurm_cluster, cpus_per_task=slurm_cluster.cpus).submit(
        StepCounter(str(counter_dir), total))
    deadline = time.monotonic() + 120
    while not (counter_dir / "step").exists() or int((counter_dir / "step").read_text()) < 4:
        assert time.monotonic() < deadline, f"victim {victim.job_id} did not reach step 4: {query_states([victim.job_id])}"
        time.sleep(0.25)
    preemptor = _executor(tmp_path / "high", slurm_cluster,
                          slurm_partition=slurm_cluster.preempting_partition).submit(double, 5)
    assert preemptor.result() == 10
    assert victim.result() == total
    record = wait_for_state(victim.job_id, {"COMPLETED"}, timeout_s=30)
    assert record.restarts >= 1
    assert record.total_elapsed_s > record.elapsed_s  # the preempted run is charged too
    starts = [int(line) for line in (counter_dir / "starts").read_text().split()]
    assert starts[0] == 0 and len(starts) == record.restarts + 1
    assert starts[1] >= 4, f"the requeued run restarted from step {starts[1]}, not from its checkpoint"


def _conf_with(tmp_path: Path, override: str) -> Path:
    """A copy of the live slurm.conf with one line appended (the later setting wins)."""
    live_conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    bad_conf = tmp_path / "slurm.conf"
    bad_conf.write_text(f"{live_conf.read_text()}\n{override}\n")
    return bad_conf


def test_sacct_failure_falls_back_to_the_controller_marked_uncertain(slurm_cluster, tmp_path, monkeypatch):
    job = _executor(tmp_path / "jobs", slurm_cluster).submit(sleep_for, 60)
    try:
        wait_for_state(job.job_id, {"PENDING", "RUNNING"}, timeout_s=30)
        # Port 9 refuses connections: sacct cannot reach slurmdbd, scontrol still reaches slurmctld.
        monkeypatch.setenv("SLURM_CONF", str(_conf_with(tmp_path, "AccountingStoragePort=9")))
        records = query_states([job.job_id, "999999999"])
        record = records[job.job_id]
        assert record.uncertain and record.state in {"PENDING", "RUNNING"}
        assert "sacct failed" in record.reason
        assert (records["999999999"].state, records["999999999"].uncertain) == ("UNKNOWN", True)
        assert not cluster_healthy()  # accounting is part of health
    finally:
        monkeypatch.delenv("SLURM_CONF", raising=False)
        job.cancel()


def test_fixture_fails_with_the_start_hint_when_the_cluster_is_unreachable(slurm_cluster, tmp_path):
    # Clients then find no controller (connection refused at once; a missing file would
    # make them retry for 60 s).
    env = {**os.environ, "SLURM_CONF": str(_conf_with(tmp_path, "SlurmctldPort=9"))}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{Path(__file__)}::test_completed_job"],
        capture_output=True, text=True, timeout=120, env=env, cwd=START_SCRIPT.parents[2])
    assert completed.returncode != 0
    assert "SLURM cluster not usable" in completed.stdout
    assert "start-local-cluster.sh" in completed.stdout


def _run_dir() -> Path:
    return Path(os.environ.get("SLURM_LOCAL_DIR", "/var/lib/slurm-local")) / "run"


def test_start_script_repairs_a_half_started_cluster(slurm_cluster):
    """slurmd dies (running jobs keep running in their slurmstepd); start brings it back."""
    run_dir = _run_dir()
    if not (run_dir / "slurmd.ours").exists():
        pytest.fail(f"slurmd was not started by {START_SCRIPT.name} (no {run_dir}/slurmd.ours): "
                    "this test only stops daemons that script started", pytrace=False)
    pid = int((run_dir / "slurmd.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while not process_is_gone(pid):
        assert time.monotonic() < deadline, f"slurmd {pid} ignored SIGTERM"
        time.sleep(0.2)
    completed = subprocess.run(["bash", str(START_SCRIPT)], capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "slurmd: started" in completed.stdout, completed.stdout
    assert "slurmctld: already running" in completed.stdout, completed.stdout
    assert int((run_dir / "slurmd.pid").read_text()) != pid
    assert cluster_healthy(), check_cluster().problem


@pytest.mark.slow
def test_start_script_follows_a_host_name_change(slurm_cluster, tmp_path):
    """A CI clone may run where the host name differs from the last start: slurm.conf follows.

    The new name is set in a private UTS namespace (``unshare --uts``), so only the start
    script and the daemons it restarts see it; a final start outside restores the cluster.
    """
    script = (f"hostname ci-renamed && bash {START_SCRIPT} && "
              "sbatch --parsable --wait --mem=100 -o /dev/null --wrap true")
    try:
        renamed = subprocess.run(["unshare", "--uts", "bash", "-c", script], capture_output=True, text=True,
                                 timeout=180, stdin=subprocess.DEVNULL)
        assert renamed.returncode == 0, renamed.stdout + renamed.stderr
        assert "wrote /etc/slurm/slurm.conf for host ci-renamed" in renamed.stdout
        job_id = renamed.stdout.strip().splitlines()[-1]
        record = wait_for_state(job_id, {"COMPLETED"}, timeout_s=30)
        assert record.node == "ci-renamed"
    finally:
        restored = subprocess.run(["bash", str(START_SCRIPT)], capture_output=True, text=True, timeout=180,
                                  stdin=subprocess.DEVNULL)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"for host {slurm_cluster.node}" in restored.stdout
    assert cluster_healthy(), check_cluster().problem
