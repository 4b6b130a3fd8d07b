"""Preemption through submitit for real: a pretrain job under submitit's LocalExecutor gets
the preemption signal mid-run; its checkpoint() saves, submitit requeues it, and it finishes
with the same weights and metrics as an uninterrupted run."""
import json
import time

import pytest
import submitit
import torch

from jobs.pretrain import PretrainJob
from model.engine.checkpoint import CheckpointStore
from model.engine.reporting import deterministic_view, read_metrics
from tests.jobs.demo_setup import planned_configs, shrink, write_run_dir

ITERS = 8


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
    preempted._interrupt()  # submitit's preemption signal (USR2)
    deadline = time.time() + 60
    while time.time() < deadline:
        status = json.loads((runs["preempted"] / "status.json").read_text())
        if status["state"] == "checkpointed":
            break
        time.sleep(0.05)
    assert status["state"] == "checkpointed" and 3 <= status["step"] < ITERS
    assert preempted.result(timeout=600)["step"] == ITERS  # requeued by submitit, then done
    reference.result(timeout=600)

    final = {}
    for name, run_dir in runs.items():
        state, _ = CheckpointStore(run_dir / "checkpoints").load_latest()
        assert state["step"] == ITERS
        final[name] = (state["model"], deterministic_view(read_metrics(run_dir / "metrics.jsonl")))
    for key, tensor in final["reference"][0].items():
        assert torch.equal(tensor, final["preempted"][0][key]), key
    assert final["reference"][1] == final["preempted"][1]
    attempts = {m["attempt"] for m in read_metrics(runs["preempted"] / "metrics.jsonl")}
    assert attempts == {1, 2}
