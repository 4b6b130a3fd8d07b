"""pytest plugin: the real local SLURM cluster, for any test folder that needs one.

Registered from tests/conftest.py (``pytest_plugins``). A test that asks for
``slurm_cluster`` FAILS, never skips, when the cluster is absent: a skipped scheduler test
would hide exactly the failures it exists to catch.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pytest

from orchestrator.slurm import SchedulerRecord, check_cluster, query_states

REPO_ROOT = Path(__file__).resolve().parents[1]
START_SCRIPT = REPO_ROOT / "scripts" / "slurm" / "start-local-cluster.sh"


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
