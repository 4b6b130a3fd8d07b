"""pytest plugin: the real local SLURM clusters, for any test folder that needs one.

Registered from tests/conftest.py (``pytest_plugins``). A test that asks for
``slurm_cluster`` (the one-node cluster) or ``two_node_slurm`` (the two-node cluster of
scripts/slurm/start-two-node-cluster.sh) FAILS, never skips, when its cluster is absent: a
skipped scheduler test would hide exactly the failures it exists to catch.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pytest

from orchestrator.slurm import SchedulerRecord, check_cluster, query_states

REPO_ROOT = Path(__file__).resolve().parents[1]
START_SCRIPT = REPO_ROOT / "scripts" / "slurm" / "start-local-cluster.sh"
TWO_NODE_START_SCRIPT = REPO_ROOT / "scripts" / "slurm" / "start-two-node-cluster.sh"
TWO_NODE_STOP_SCRIPT = REPO_ROOT / "scripts" / "slurm" / "stop-two-node-cluster.sh"
# What clients of the two-node cluster export (the script's SLURM_TWO_NODE_CONF_DIR).
TWO_NODE_SLURM_CONF = Path(os.environ.get("SLURM_TWO_NODE_CONF_DIR", "/etc/slurm-two-node")) / "slurm.conf"


@dataclass(frozen=True)
class LocalSlurmCluster:
    """What tests need to know about the running cluster."""

    node: str
    cpus: int
    default_partition: str = "debug"
    preempting_partition: str = "high"

    def submitit_parameters(self, **overrides: object) -> dict[str, object]:
        """AutoExecutor parameters that work on this cluster (docs/slurm.md explains each).

        ``timeout_min`` stays >= 10: submitit counts every SIGUSR2 as a timeout when the
        time limit is shorter, so preemption would look like a timeout. PYTHONPATH makes
        ``tests.*`` importable by the job, wherever pytest was started from.
        """
        parameters: dict[str, object] = {
            "slurm_partition": self.default_partition,
            "timeout_min": 10,
            "slurm_signal_delay_s": 30,
            "cpus_per_task": 1,
            "slurm_mem_per_cpu": 200,
            "stderr_to_stdout": True,
            "slurm_setup": [f"export PYTHONPATH={REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"],
        }
        parameters.update(overrides)
        return parameters


@pytest.fixture(scope="session")
def slurm_cluster() -> LocalSlurmCluster:
    """The healthy local cluster, or a test failure saying how to start it."""
    health = check_cluster()
    if not health.healthy:
        pytest.fail(f"SLURM cluster not usable: {health.problem}\n"
                    f"Start it with: sudo {START_SCRIPT.relative_to(REPO_ROOT)}", pytrace=False)
    node = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%N %c"], capture_output=True,
                          text=True, timeout=10, check=True).stdout.split()
    return LocalSlurmCluster(node=node[0], cpus=int(node[1]))


@dataclass(frozen=True)
class TwoNodeSlurmCluster(LocalSlurmCluster):
    """The two-node cluster: ``nodes`` in SLURM's order (the first hosts rank 0 and
    MASTER_ADDR), ``addresses`` their NodeAddr, ``slurm_conf`` what its clients export as
    SLURM_CONF. ``submitit_parameters(nodes=2, tasks_per_node=1)`` spans both nodes."""

    nodes: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    slurm_conf: Path = TWO_NODE_SLURM_CONF


def _start_two_node_cluster() -> tuple[TwoNodeSlurmCluster, bool]:
    """Run the (idempotent) start script, then check the cluster through its SLURM_CONF.

    Also says whether the script started any daemon (the cluster was not running before).
    """
    script = TWO_NODE_START_SCRIPT.relative_to(REPO_ROOT)
    environment = {key: value for key, value in os.environ.items() if key != "SLURM_CONF"}
    try:
        started = subprocess.run([str(TWO_NODE_START_SCRIPT)], capture_output=True, text=True, timeout=300,
                                 stdin=subprocess.DEVNULL, env=environment)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{script} did not finish within {error.timeout} s", pytrace=False)
    if started.returncode != 0:
        pytest.fail(f"two-node SLURM cluster not started: `sudo {script}` exited {started.returncode}\n"
                    f"{started.stdout[-3000:]}\n{started.stderr[-3000:]}", pytrace=False)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(TWO_NODE_SLURM_CONF)
    try:
        health = check_cluster()
        listing = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%N %o %c"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
    if not health.healthy:
        pytest.fail(f"two-node SLURM cluster not usable after {script}: {health.problem}", pytrace=False)
    rows = sorted({tuple(line.split()) for line in listing.splitlines() if line.strip()})
    if len(rows) != 2:
        pytest.fail(f"two-node SLURM cluster: expected 2 nodes, sinfo lists {rows}", pytrace=False)
    cluster = TwoNodeSlurmCluster(node=rows[0][0], cpus=int(rows[0][2]), nodes=tuple(row[0] for row in rows),
                                  addresses=tuple(row[1] for row in rows))
    return cluster, ": started" in started.stdout


@pytest.fixture(scope="session")
def two_node_slurm_cluster() -> Iterator[TwoNodeSlurmCluster]:
    """Starts the two-node cluster once per session (a no-op when it runs); SLURM_CONF untouched.

    A cluster this session had to start is stopped again at the end (the machine's two cores
    are shared), unless SLURM_TWO_NODE_KEEP=1; one that was already running is left running.
    """
    cluster, started_here = _start_two_node_cluster()
    yield cluster
    if started_here and os.environ.get("SLURM_TWO_NODE_KEEP") != "1":
        subprocess.run([str(TWO_NODE_STOP_SCRIPT)], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, check=False)


@pytest.fixture
def two_node_slurm(two_node_slurm_cluster: TwoNodeSlurmCluster,
                   monkeypatch: pytest.MonkeyPatch) -> TwoNodeSlurmCluster:
    """The two-node cluster, with SLURM_CONF pointing at it for this test only.

    Every SLURM client the test starts (submitit's sbatch, ``query_states``' sacct, scancel)
    and every job it submits (sbatch passes the environment on) then talks to the two-node
    cluster; the variable is restored afterwards, so one-node tests in the same session are
    unaffected.
    """
    monkeypatch.setenv("SLURM_CONF", str(two_node_slurm_cluster.slurm_conf))
    return two_node_slurm_cluster


def wait_for_record(job_id: str, accept: Callable[[SchedulerRecord], bool], timeout_s: float,
                    poll_s: float = 0.5) -> SchedulerRecord:
    """Poll ``query_states`` until ``accept(record)``; AssertionError with the last record otherwise."""
    deadline = time.monotonic() + timeout_s
    record = None
    while time.monotonic() < deadline:
        record = query_states([job_id]).get(job_id)
        if record is not None and accept(record):
            return record
        time.sleep(poll_s)
    raise AssertionError(f"job {job_id}: condition not met within {timeout_s} s; last record: {record}")


def wait_for_state(job_id: str, states: Iterable[str], timeout_s: float) -> SchedulerRecord:
    """Poll until the job's certain state is one of ``states``."""
    wanted = set(states)
    return wait_for_record(job_id, lambda record: not record.uncertain and record.state in wanted, timeout_s)
