"""The two-node cluster (scripts/slurm/start-two-node-cluster.sh): a job with nodes=2 really
spans two SLURM nodes and its two ranks rendezvous with gloo.

Submitted through the orchestrator's SlurmExecutor with ``nodes=2, tasks_per_node=1``, as a
paper-scale job would be. Fails (never skips) when the cluster cannot be started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.executors import register_job_kind
from orchestrator.executors.base import ResourceRequest
from orchestrator.executors.slurm import SlurmExecutor, SlurmPlacement
from tests.fixtures_slurm import REPO_ROOT, TWO_NODE_START_SCRIPT, wait_for_record, wait_for_state
from tests.slurm.two_node_jobs import PROBE_KIND, RendezvousProbe

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED"}


def _log_tail(folder: Path) -> str:
    texts = [f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}" for path in sorted(folder.glob("*.out"))]
    return "\n".join(texts) or f"(no logs in {folder})"


@pytest.mark.slow
def test_a_two_node_job_runs_one_rank_per_node_and_all_reduces_over_gloo(two_node_slurm, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    register_job_kind(PROBE_KIND, RendezvousProbe)
    executor = SlurmExecutor(SlurmPlacement(partition=two_node_slurm.default_partition, signal_delay_s=30))
    resources = ResourceRequest(nodes=2, tasks_per_node=1, cpus_per_task=1, mem_gb=1, timeout_min=10)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    attempt = executor.submit(PROBE_KIND, run_dir, resources, attempt_number=1, job_name="two-node-probe")
    record = wait_for_state(attempt.scheduler_id, FINAL_STATES, timeout_s=90)
    assert record.state == "COMPLETED", f"{record}\n{_log_tail(attempt.log_folder)}"

    first, second = two_node_slurm.nodes
    reports = {rank: json.loads((run_dir / f"rank_{rank}.json").read_text()) for rank in (0, 1)}
    for rank, report in reports.items():
        assert (report["rank"], report["world_size"], report["local_rank"]) == (rank, 2, 0)
        # SLURM's compressed list ("local2-n[1-2]"), parsed by submitit into both hosts.
        assert report["nodelist"] != f"{first},{second}" and "[" in report["nodelist"]
        assert report["hostnames"] == [first, second]
        # MASTER_ADDR is the first node (rank 0's), and its name resolves to that node's address.
        assert report["master_addr"] == first
        assert report["master_address"] == two_node_slurm.addresses[0]
        assert report["all_reduce_sum"] == 3.0  # (0 + 1) + (1 + 1)
        assert report["nodes_seen"] == [first, second]
    assert (reports[0]["node"], reports[0]["node_id"]) == (first, 0)
    assert (reports[1]["node"], reports[1]["node_id"]) == (second, 1)
    assert reports[0]["master_port"] == reports[1]["master_port"]

    # Accounting names both nodes -- after a moment: for about a second after the job ends,
    # sacct's job row may still carry only the batch host (local2-n1) as its NodeList.
    wait_for_record(attempt.scheduler_id, lambda rec: rec.node == reports[0]["nodelist"], timeout_s=30)
    observation = executor.observe([attempt])[attempt.scheduler_id]
    assert (observation.state, observation.node) == ("COMPLETED", reports[0]["nodelist"])


def test_the_two_node_clusters_daemons_are_invisible_to_the_one_node_scripts(two_node_slurm):
    """start-local-cluster.sh repairs by looking for a running slurmd/slurmctld/slurmdbd: the
    two-node cluster's must not be taken for the one-node cluster's."""
    run_dir = Path(os.environ.get("SLURM_TWO_NODE_DIR", "/var/lib/slurm-two-node")) / "run"
    ours = {int(path.read_text().strip()) for path in run_dir.glob("slurm*.pid") if path.read_text().strip()}
    assert ours, f"no pid files in {run_dir}"
    lib = REPO_ROOT / "scripts" / "slurm" / "lib.sh"
    for name in ("slurmd", "slurmctld", "slurmdbd"):
        found = subprocess.run(["bash", "-c", f"source {lib}; pid_of_exe {name}"], capture_output=True,
                               text=True, timeout=30, stdin=subprocess.DEVNULL,
                               env={key: value for key, value in os.environ.items() if key != "SLURM_CONF"})
        assert not (set(map(int, found.stdout.split())) & ours), f"{name}: {found.stdout} is a two-node daemon"


def test_the_two_node_start_script_is_a_no_op_when_healthy(two_node_slurm):
    completed = subprocess.run([str(TWO_NODE_START_SCRIPT)], capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr
    assert "started" not in completed.stdout and "restarting" not in completed.stdout, completed.stdout
    assert "ready" in completed.stdout


def test_the_fixture_fails_with_the_script_output_when_the_cluster_cannot_start(two_node_slurm):
    # An invalid cluster name stops the start script before it touches anything.
    env = {**os.environ, "SLURM_TWO_NODE_CLUSTER": "Not-Valid"}
    env.pop("SLURM_CONF", None)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{Path(__file__)}::test_the_two_node_start_script_is_a_no_op_when_healthy"],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    assert completed.returncode != 0
    assert "two-node SLURM cluster not started" in completed.stdout, completed.stdout[-2000:]
    assert "SLURM_TWO_NODE_CLUSTER must be lower-case" in completed.stdout
    assert " skipped" not in completed.stdout
