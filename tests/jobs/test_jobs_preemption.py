"""Preemption through submitit for real: a pretrain job under submitit's LocalExecutor gets
the preemption signal mid-run; its checkpoint() saves, submitit requeues it, and it finishes
with the same weights and metrics as an uninterrupted run."""
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import submitit
import torch

from jobs.pretrain import PretrainJob
from model.engine.checkpoint import CheckpointStore
from model.engine.reporting import deterministic_view, read_metrics
from tests.jobs.demo_setup import planned_configs, shrink, write_run_dir

ITERS = 40


def _task_pids(controller_pid: int) -> list[int]:
    """The job processes under submitit's local controller (SLURM signals the task itself)."""
    found, stack = [], [controller_pid]
    while stack:
        pid = stack.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"submitit.core._submit" in cmdline:
            found.append(pid)
        stack.extend(int(c) for c in children)
    return found


def _step(run_dir):
    try:
        return json.loads((run_dir / "status.json").read_text())["step"]
    except (FileNotFoundError, ValueError, KeyError):
        return -1


@pytest.mark.slow
def test_preempted_job_is_requeued_and_resumes_exactly(tmp_path, kinetics_root):
    cfg = planned_configs("kinetics_challenge", tmp_path / "plan")["pretrain.k600.slowfast_8x8"]
    cfg = shrink(cfg, model="slowfast_8x8_r50_tiny", frames=2, crop=32, iters=ITERS, warmup=1,
                 checkpoint_every=100)
    cfg["data"]["root"] = str(kinetics_root)
    cfg["job"]["log_every"] = 1
    cfg["resources"]["cpus_per_task"] = 1  # one thread: bit-exact comparison
    runs = {name: write_run_dir(tmp_path / name, cfg) for name in ("reference", "preempted")}

    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=20)
    reference = executor.submit(PretrainJob(runs["reference"]))
    preempted = executor.submit(PretrainJob(runs["preempted"]))
    deadline = time.time() + 300
    while _step(runs["preempted"]) < 3 and time.time() < deadline and not preempted.done():
        time.sleep(0.05)
    tasks = _task_pids(preempted._process.pid)
    assert len(tasks) == 1
    os.kill(tasks[0], signal.SIGUSR2)  # what SLURM sends before preemption / timeout
    assert preempted.result()["step"] == ITERS  # requeued by submitit, then done
    reference.result()

    final = {}
    for name, run_dir in runs.items():
        state, _ = CheckpointStore(run_dir / "checkpoints").load_latest()
        assert state["step"] == ITERS
        final[name] = (state["model"], deterministic_view(read_metrics(run_dir / "metrics.jsonl")))
    for key, tensor in final["reference"][0].items():
        assert torch.equal(tensor, final["preempted"][0][key]), key
    assert final["reference"][1] == final["preempted"][1]
    lines = read_metrics(runs["preempted"] / "metrics.jsonl")
    assert {m["attempt"] for m in lines} == {1, 2}  # both attempts wrote, none twice
    first_resumed = min(m["step"] for m in lines if m["attempt"] == 2)
    assert 3 <= first_resumed - 1 < ITERS  # the checkpoint was taken mid-run
    assert json.loads((runs["preempted"] / "status.json").read_text())["attempt"] == 2


_DYING_SCONTROL = """#!/bin/sh
# scontrol as it runs inside a job that SLURM requeues: the request goes through, then the
# SIGTERM that SLURM sends to every process of the job kills the command before it returns.
"{real}" "$@"
status=$?
if [ "$1" = requeue ]; then kill -TERM $$; fi
exit $status
"""


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.integration
def test_on_slurm_a_requeue_command_killed_by_the_requeue_does_not_fail_the_job(
        slurm_cluster, tmp_path, kinetics_root):
    """A member of the SLURM demo once ended FAILED with "CalledProcessError: Command
    '['scontrol', 'requeue', ...]' died with SIGTERM": the checkpoint was saved and the job was
    being requeued, but the error of submitit's requeue command was reported as the job's."""
    cfg = planned_configs("kinetics_challenge", tmp_path / "plan")["pretrain.k600.slowfast_8x8"]
    cfg = shrink(cfg, model="slowfast_8x8_r50_tiny", frames=2, crop=32, iters=ITERS, warmup=1,
                 checkpoint_every=100)
    cfg["data"]["root"] = str(kinetics_root)
    cfg["job"]["log_every"] = 1
    cfg["resources"]["cpus_per_task"] = 1
    run_dir = write_run_dir(tmp_path / "run", cfg)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "scontrol").write_text(_DYING_SCONTROL.format(real=shutil.which("scontrol")))
    (shim / "scontrol").chmod(0o755)

    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    parameters = slurm_cluster.submitit_parameters(slurm_mem_per_cpu=2000)
    parameters["slurm_setup"] = [*parameters["slurm_setup"], f"export PATH={shim}:$PATH"]
    executor.update_parameters(**parameters)
    job = executor.submit(PretrainJob(run_dir))
    deadline = time.time() + 300
    while _step(run_dir) < 3 and not job.done():
        assert time.time() < deadline, f"job {job.job_id} did not reach step 3"
        time.sleep(0.1)
    subprocess.run(["scancel", "--signal=USR2", job.job_id], check=True)  # as before a preemption

    assert job.result()["step"] == ITERS  # requeued, resumed, done: no error result
    log_text = "\n".join(path.read_text() for path in (tmp_path / "submitit").glob("*_log.out"))
    assert "the requeue request failed (CalledProcessError" in log_text  # the shim did kill it
    lines = read_metrics(run_dir / "metrics.jsonl")
    assert {m["attempt"] for m in lines} == {1, 2}
    assert min(m["step"] for m in lines if m["attempt"] == 2) - 1 >= 3  # from the checkpoint
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["attempt"]) == ("completed", 2)
