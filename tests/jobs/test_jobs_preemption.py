"""Preemption through submitit for real: a pretrain job under submitit's LocalExecutor gets
the preemption signal mid-run; its checkpoint() saves, submitit requeues it, and it finishes
with the same weights and metrics as an uninterrupted run."""
import json
import os
import signal
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
