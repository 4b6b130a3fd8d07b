"""Executors: job registry, cluster settings from the real config tree, sbatch parameters,
and the local executor running real subprocesses of a Checkpointable counter."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from orchestrator.executors import (ClusterSettings, ResourceRequest, SchedulerUnavailableError,
                                    UnknownJobKindError, attempt_log_folder, build_executor, job_entry,
                                    resolve_backend)
from orchestrator.executors.local import LocalProcessExecutor
from orchestrator.executors.slurm import SlurmExecutor, normalise_slurm_state
from tests.orchestrator.dag_support import toy_config
from tests.orchestrator.toy_jobs import COUNTER_KIND, Counter, expected_final_value

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_job_entry_resolves_entry_points_and_rejects_unknown_kinds() -> None:
    assert job_entry(COUNTER_KIND) is Counter
    assert job_entry("tests.orchestrator.toy_jobs:Counter") is Counter
    with pytest.raises(UnknownJobKindError, match="no module 'jobs.no_such_kind'"):
        job_entry("no_such_kind")
    with pytest.raises(UnknownJobKindError, match="no callable"):
        job_entry("tests.orchestrator.toy_jobs:NotThere")
    with pytest.raises(UnknownJobKindError):
        job_entry("../../etc")


def _cluster_yaml(name: str) -> dict:
    data = yaml.safe_load((CONFIGS / "cluster" / f"{name}.yaml").read_text())
    for parent in data.pop("defaults", []):
        if parent != "_self_":
            data = {**_cluster_yaml(parent), **data}
    return data


def test_cluster_settings_from_the_config_tree() -> None:
    local = ClusterSettings.from_mapping(_cluster_yaml("local"))
    assert local.backend == "local" and local.max_parallel == 2 and local.max_resubmits == 5
    assert local.backoff_after(0) < local.backoff_after(1) <= local.backoff_after(99)
    slurm = ClusterSettings.from_mapping(_cluster_yaml("slurm"))
    assert (slurm.backend, slurm.partition) == ("slurm", "debug")
    assert ClusterSettings.from_mapping(_cluster_yaml("auto")).backend == "auto"
    with pytest.raises(ValueError, match="cluster.executor"):
        ClusterSettings.from_mapping({"executor": "kubernetes"})


def test_local_parallelism_never_exceeds_the_cores(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    settings = ClusterSettings(max_parallel=64)
    assert settings.parallel_limit("local") == 2 and settings.parallel_limit("slurm") == 64


def test_auto_without_sbatch_is_local_and_slurm_without_sbatch_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert resolve_backend(ClusterSettings(backend="auto")) == "local"
    with pytest.raises(SchedulerUnavailableError, match="sbatch"):
        build_executor(ClusterSettings(backend="slurm"))


def test_sbatch_parameters_carry_placement_and_resources(monkeypatch, tmp_path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    settings = ClusterSettings(backend="slurm", partition="gpu", account="vision", qos="high",
                               constraint="volta32gb", signal_delay_s=90, max_resubmits=4)
    executor = build_executor(settings)
    assert isinstance(executor, SlurmExecutor)
    parameters = executor.sbatch_parameters(
        ResourceRequest(nodes=16, gpus_per_node=8, cpus_per_task=10, mem_gb=480, timeout_min=4320), "pretrain.k600")
    assert parameters == {
        "name": "pretrain.k600", "nodes": 16, "tasks_per_node": 8, "gpus_per_node": 8, "cpus_per_task": 10,
        "mem_gb": 480, "timeout_min": 4320, "slurm_signal_delay_s": 90,
        "slurm_partition": "gpu", "slurm_account": "vision", "slurm_qos": "high", "slurm_constraint": "volta32gb"}
    cpu_only = executor.sbatch_parameters(ResourceRequest(), "ensemble.val")
    assert "gpus_per_node" not in cpu_only and cpu_only["tasks_per_node"] == 1


@pytest.mark.parametrize("raw, state", [("CANCELLED by 0", "CANCELLED"), ("OUT_OF_MEMORY", "FAILED"),
                                        ("BOOT_FAIL", "NODE_FAIL"), ("REQUEUED", "REQUEUED"),
                                        ("PREEMPTED", "PREEMPTED"), ("", "UNKNOWN"), ("WEIRD", "UNKNOWN")])
def test_sacct_states_are_normalised(raw: str, state: str) -> None:
    assert normalise_slurm_state(raw) == state


def test_resources_reject_unknown_fields() -> None:
    with pytest.raises(ValueError, match="gpus"):
        ResourceRequest.from_mapping({"gpus": 8})


def _run_dir(tmp_path: Path, **toy) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(toy_config("counter", **toy)))
    return run_dir


def _wait_for(executor, handle, states, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        observation = executor.observe([handle])[handle.scheduler_id]
        if observation.state in states:
            return observation
        time.sleep(0.1)
    raise AssertionError(f"{handle} never reached {states}")


def test_local_executor_runs_a_checkpointable_job_to_completion(tmp_path) -> None:
    run_dir = _run_dir(tmp_path, total_steps=4, step_seconds=0.01)
    executor = LocalProcessExecutor()
    handle = executor.submit(COUNTER_KIND, run_dir, ResourceRequest(timeout_min=5), 1, "counter")
    assert handle.log_folder == attempt_log_folder(run_dir, 1) == run_dir / "logs" / "attempt_001"
    assert _wait_for(executor, handle, {"COMPLETED", "FAILED", "VANISHED"}).state == "COMPLETED"
    assert yaml.safe_load((run_dir / "result.json").read_text())["final_value"] == expected_final_value(4)
    # A watcher in another process has no Popen: it must reach the same verdict from /proc + files.
    fresh = LocalProcessExecutor()
    assert fresh.observe([handle])[handle.scheduler_id].state == "COMPLETED"


def test_local_executor_reports_exceptions_and_lost_processes(tmp_path) -> None:
    executor = LocalProcessExecutor()
    failing = executor.submit(COUNTER_KIND, _run_dir(tmp_path, fail="exception", fail_at=2), ResourceRequest(), 1, "x")
    failed = _wait_for(executor, failing, {"FAILED", "COMPLETED", "VANISHED"})
    assert failed.state == "FAILED" and failed.reason == "ValueError: bad data in clip 2"

    slow_dir = tmp_path / "slow"
    slow_dir.mkdir()
    (slow_dir / "config.yaml").write_text(yaml.safe_dump(toy_config("slow", total_steps=500, step_seconds=0.1)))
    slow = executor.submit(COUNTER_KIND, slow_dir, ResourceRequest(), 1, "slow")
    _wait_for(executor, slow, {"RUNNING"})
    executor.kill(slow)
    lost = _wait_for(executor, slow, {"VANISHED", "COMPLETED", "FAILED"})
    assert lost.state == "VANISHED"


def _ignored_signals(pid: str) -> int:
    """The SigIgn mask of a process (bit n-1 set: signal n ignored)."""
    status = (Path("/proc") / pid / "status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)


def test_a_watcher_that_ignores_sigint_still_starts_cancellable_controllers(tmp_path) -> None:
    """A watcher started in the background by a non-interactive shell (`nohup ... &`, a CI
    runner) ignores SIGINT, and SIG_IGN survives exec: the controller it starts must not
    inherit it, or `cancel` (SIGINT) would not stop the job."""
    import signal

    run_dir = _run_dir(tmp_path, total_steps=500, step_seconds=0.1)
    executor = LocalProcessExecutor()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        handle = executor.submit(COUNTER_KIND, run_dir, ResourceRequest(), 1, "slow")
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # the caller's own setting is back
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert not _ignored_signals(handle.scheduler_id) & (1 << (signal.SIGINT - 1))
        _wait_for(executor, handle, {"RUNNING"})
        began = time.monotonic()
        executor.cancel(handle, grace_s=30.0)
        assert time.monotonic() - began < 10.0  # stopped by SIGINT, not by the kill fallback
        assert executor.observe([handle])[handle.scheduler_id].state != "RUNNING"
    finally:
        executor.kill(handle)


def test_cancel_kills_a_controller_that_ignores_sigint(tmp_path) -> None:
    import signal
    import subprocess
    import sys

    from orchestrator.executors import SubmittedAttempt
    from orchestrator.executors.local import is_local_controller

    # A stand-in with the controller's module name on its command line, ignoring SIGINT.
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)",
         "submitit.local._local"])
    try:
        pid = str(stubborn.pid)
        deadline = time.monotonic() + 10
        while not _ignored_signals(pid) & (1 << (signal.SIGINT - 1)) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the stand-in has set SIG_IGN
        attempt = SubmittedAttempt(scheduler_id=pid, backend="local", log_folder=tmp_path)
        LocalProcessExecutor().cancel(attempt, grace_s=0.5)
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
        assert not is_local_controller(pid)
    finally:
        stubborn.kill()


def test_a_job_module_that_fails_to_import_is_a_typed_error(tmp_path, monkeypatch) -> None:
    package = tmp_path / "broken_jobs_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "kind.py").write_text("from os import nothing_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownJobKindError, match="importing broken_jobs_pkg.kind failed: ImportError"):
        job_entry("broken_jobs_pkg.kind:Job")


def test_slurm_refused_early_when_its_controller_does_not_answer(tmp_path, monkeypatch) -> None:
    from orchestrator.executors import require_backend_available

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("sbatch", "scontrol", "sinfo", "sacct"):
        (fake_bin / tool).write_text("#!/bin/sh\necho 'slurm_load_ctl_conf error: Unable to contact slurm controller' >&2\nexit 1\n")
        (fake_bin / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    with pytest.raises(SchedulerUnavailableError, match="not usable"):
        require_backend_available("slurm")
    require_backend_available("local")


def test_a_sacct_record_becomes_an_observation_with_the_allocations_usage():
    from orchestrator.executors.slurm import observation_from_record
    from orchestrator.slurm.sacct import parse_sacct

    # A job preempted once and requeued: two allocation runs of 1 h and 0.5 h on 8 GPUs, 80 CPUs.
    text = ("41|PREEMPTED|0:0|gpu01|2026-12-01T10:00:00|2026-12-01T11:00:00|3600|80|"
            "billing=80,cpu=80,gres/gpu=8,mem=480G,node=1|None\n"
            "41|RUNNING|0:0|gpu02|2026-12-01T11:05:00|Unknown|1800|80|"
            "billing=80,cpu=80,gres/gpu=8,mem=480G,node=1|None\n")
    observation = observation_from_record(parse_sacct(text)["41"])
    assert observation.state == "RUNNING"
    assert (observation.gpu_seconds, observation.cpu_seconds) == (5400 * 8, 5400 * 80)
