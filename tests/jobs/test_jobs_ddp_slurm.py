"""Two processes per job on the real local SLURM cluster (gloo on the CPU), submitted by the
orchestrator's ``SlurmExecutor`` with the planner's resources (``cluster=slurm
cluster.tasks_per_node=2 scale.batch_size=4``):

- a 2-task ``pretrain`` and ``finetune_ava`` equal their 1-task runs with the same global batch
  (8 clips) and the same BN group (those 8 clips): final weights and logged losses within
  ``WEIGHT_ATOL`` / ``LOSS_RTOL`` (float sums in another order, nothing else); only rank 0
  writes the run directory, rank 1's output is in its own log files. Over ``EQUAL_ITERS``
  steps: the demo's from-scratch pretraining amplifies rounding about 2.5x per step (measured
  over 24 steps: 1e-7 relative at step 5, 5e-5 at step 9, 1e-2 from step 13 on), so a longer
  schedule compares the dynamics' chaos, not the arithmetic;
- a 2-task job preempted by a whole-node ``high`` job: both ranks stop at the same step, rank
  0 writes that one checkpoint, SLURM requeues the job, both ranks resume from that step and
  the job ends equal (bit for bit) to an uninterrupted 2-task run;
- ``kill -9`` of rank 1's process: the job fails within seconds with a status naming rank 1
  and its pid, and the watcher resubmits it from its latest checkpoint; it completes equal to
  the uninterrupted run.

Dropout is off in these runs: each process draws its dropout masks from its own stream
(seeded by (seed, rank, step)), so a 2-process run draws other masks than 1 process; every
other random draw (data order, augmentation) is a function of the sample, not the process.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import torch
import yaml
from sqlalchemy import select

from model.engine.checkpoint import CheckpointStore
from model.engine.reporting import deterministic_view, read_metrics
from orchestrator.commands.logs import attempt_log_files
from orchestrator.executors import ClusterSettings, ResourceRequest
from orchestrator.executors.slurm import SlurmExecutor, SlurmPlacement
from orchestrator.planner import compose_experiment, plan_experiment, to_plain
from orchestrator.slurm import query_states
from tests.fixtures_slurm import wait_for_state
from tests.jobs.demo_setup import shrink, write_run_dir

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.integration]

REPO_ROOT = Path(__file__).resolve().parents[2]
TWO_TASKS = ("cluster=slurm", "cluster.tasks_per_node=2", "scale.batch_size=4")
ONE_TASK = ("cluster=slurm",)
LOSS_RTOL = 1e-5     # measured: 1.4e-7 relative at most
WEIGHT_ATOL = 1e-5   # measured: 4.8e-7 at most on weights of order 1
EQUAL_ITERS = 6
ITERS = 24           # the preemption and rank-death drills: 2 tasks against 2 tasks, bit for bit


def _planned(experiment: str, job: str, overrides: tuple[str, ...], runs_root: Path) -> dict:
    cfg = to_plain(compose_experiment(experiment, ["scale=demo", *overrides]))
    return copy.deepcopy(plan_experiment(cfg, runs_root=runs_root).by_name()[job].config)


def _demo_config(kind: str, overrides: tuple[str, ...], data_root: Path, tmp: Path, *,
                 iters: int = ITERS, checkpoint_every: int = 100) -> dict:
    if kind == "pretrain":
        cfg = _planned("kinetics_challenge", "pretrain.k600.slowfast_8x8", overrides, tmp / "plan")
        cfg = shrink(cfg, model="slowfast_8x8_r50_tiny", frames=2, crop=32, iters=iters, warmup=1,
                     checkpoint_every=checkpoint_every)
    else:
        cfg = _planned("ensemble_ava", "finetune_ava.train.sf8x8", overrides, tmp / "plan")
        cfg = shrink(cfg, model="slowfast_8x8_r50_tiny", frames=4, crop=32, iters=iters, warmup=1,
                     checkpoint_every=checkpoint_every)
        cfg["job"]["allow_random_init"] = True  # no Kinetics checkpoint needed to compare runs
    cfg["data"]["root"] = str(data_root)
    cfg["job"]["log_every"] = 1
    cfg["model"]["dropout"] = 0.0
    return cfg


class Submitter:
    """The orchestrator's SlurmExecutor on the `debug` partition; cancels what it left running."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The job imports `jobs` from this checkout, wherever pytest was started (sbatch
        # passes the environment on).
        monkeypatch.setenv("PYTHONPATH", f"{REPO_ROOT}:{os.environ.get('PYTHONPATH', '')}")
        self.executor = SlurmExecutor(SlurmPlacement(partition="debug", signal_delay_s=30))
        self.ids: list[str] = []

    def submit(self, kind: str, run_dir: Path, attempt: int = 1) -> str:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        handle = self.executor.submit(kind, run_dir, ResourceRequest.from_mapping(cfg["resources"]), attempt,
                                      f"ddp-{uuid.uuid4().hex[:8]}")
        self.ids.append(handle.scheduler_id)
        return handle.scheduler_id

    def cleanup(self) -> None:
        live = [i for i, r in query_states(self.ids).items() if r.state in ("PENDING", "RUNNING", "REQUEUED")]
        if live:
            subprocess.run(["scancel", *live], check=False)


@pytest.fixture
def submitter(slurm_cluster, monkeypatch):
    submitter = Submitter(monkeypatch)
    yield submitter
    submitter.cleanup()


def _wait_for_result(run_dir: Path, job_id: str, timeout_s: float, attempt: int = 1) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (run_dir / "result.json").is_file():
            return json.loads((run_dir / "result.json").read_text())
        record = query_states([job_id]).get(job_id)
        if record is not None and not record.uncertain and record.state in ("FAILED", "CANCELLED", "TIMEOUT"):
            break
        time.sleep(0.5)
    logs = "\n".join(p.read_text()[-3000:] for p in attempt_log_files(run_dir, attempt))
    raise AssertionError(f"job {job_id} ({run_dir.name}) left no result.json; logs:\n{logs}")


def _final_state(run_dir: Path) -> dict:
    state, _ = CheckpointStore(run_dir / "checkpoints").load_latest()
    return state


def _losses(run_dir: Path) -> dict[int, float]:
    return {m["step"]: m["value"] for m in read_metrics(run_dir / "metrics.jsonl") if m["name"] == "loss"}


def _rank_log(run_dir: Path, rank: int, attempt: int = 1) -> str:
    return "\n".join(path.read_text() for path in attempt_log_files(run_dir, attempt, rank))


def _step(run_dir: Path) -> int:
    try:
        return int(json.loads((run_dir / "status.json").read_text()).get("step", -1))
    except (FileNotFoundError, ValueError):
        return -1


@pytest.fixture(scope="module")
def reference_two_tasks(slurm_cluster, tmp_path_factory, kinetics_root):
    """The uninterrupted 2-task pretraining of ``ITERS`` steps, which the preemption and
    rank-death drills must end equal to (they run the same config)."""
    tmp = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as monkeypatch:
        submitter = Submitter(monkeypatch)
        config = _demo_config("pretrain", TWO_TASKS, kinetics_root, tmp)
        run_dir = write_run_dir(tmp / "two", config)
        try:
            _wait_for_result(run_dir, submitter.submit("pretrain", run_dir), 240)
        finally:
            submitter.cleanup()
    return {"config": config, "run_dir": run_dir}


@pytest.mark.parametrize("kind", ["pretrain", "finetune_ava"])
def test_two_tasks_equal_one_task_with_the_same_global_batch_and_bn_groups(
        kind, submitter, tmp_path, kinetics_root, ava_root):
    data_root = kinetics_root if kind == "pretrain" else ava_root
    one = _demo_config(kind, ONE_TASK, data_root, tmp_path, iters=EQUAL_ITERS)
    two = _demo_config(kind, TWO_TASKS, data_root, tmp_path, iters=EQUAL_ITERS)
    assert "tasks_per_node" not in one["resources"] and two["resources"]["tasks_per_node"] == 2
    assert (one["data"]["batch_size"], two["data"]["batch_size"]) == (8, 4)
    assert one["schedule"]["global_batch"] == two["schedule"]["global_batch"] == 8
    assert one["schedule"]["bn_group_size"] == two["schedule"]["bn_group_size"] == 8
    runs, _ = run_one_and_two_and_compare(kind, one, two, submitter, tmp_path, 240)

    # Rank 1 trained beside rank 0 and said so in its own log; it wrote nothing else.
    rank1 = _rank_log(runs["two"], 1)
    assert "global_rank=1(2)" in rank1 and f"{kind} done" in rank1
    assert "global_rank=0(2)" in _rank_log(runs["two"], 0)


def run_one_and_two_and_compare(kind: str, one: dict, two: dict, submitter: Submitter, tmp_path: Path,
                                timeout_s: float) -> tuple[dict[str, Path], dict[str, str]]:
    """Run config ``one`` (1 process) and ``two`` (2 processes) side by side; assert the two
    runs logged one loss per step (rank 0 alone writes), equal within LOSS_RTOL, and ended with
    weights within WEIGHT_ATOL. Returns the run directories and the SLURM job ids by name."""
    runs = {"one": write_run_dir(tmp_path / "one", one), "two": write_run_dir(tmp_path / "two", two)}
    ids = {name: submitter.submit(kind, run_dir) for name, run_dir in runs.items()}
    results = {name: _wait_for_result(run_dir, ids[name], timeout_s) for name, run_dir in runs.items()}
    assert results["one"]["step"] == results["two"]["step"] == EQUAL_ITERS
    assert (results["one"]["world_size"], results["two"]["world_size"]) == (1, 2)
    losses = {name: _losses(run_dir) for name, run_dir in runs.items()}
    assert sorted(losses["two"]) == list(range(1, EQUAL_ITERS + 1))  # one line per step: one writer
    for step, value in losses["one"].items():
        assert losses["two"][step] == pytest.approx(value, rel=LOSS_RTOL), step
    weights = {name: _final_state(run_dir)["model"] for name, run_dir in runs.items()}
    for key, tensor in weights["one"].items():
        if tensor.is_floating_point():
            assert torch.allclose(weights["two"][key], tensor, rtol=0, atol=WEIGHT_ATOL), key
        else:
            assert torch.equal(weights["two"][key], tensor), key
    print(f"{kind}: loss within {max(abs(losses['two'][s] / v - 1) for s, v in losses['one'].items()):.1e} "
          f"relative, weights within {max((weights['two'][k] - t).abs().max().item() for k, t in weights['one'].items() if t.is_floating_point()):.1e}")
    return runs, ids


def _preempt_whole_node(cluster, log_dir: Path) -> str:
    out = subprocess.run(
        ["sbatch", "--parsable", f"--partition={cluster.preempting_partition}", f"--cpus-per-task={cluster.cpus}",
         "--mem=100", f"--job-name=ddp-high-{uuid.uuid4().hex[:6]}", f"--output={log_dir}/high-%j.out",
         "--wrap=sleep 2"], capture_output=True, text=True, check=True)
    return out.stdout.strip().split(";")[0]


def _assert_equal_to_reference(run_dir: Path, reference: dict) -> None:
    final, expected = _final_state(run_dir), _final_state(reference["run_dir"])
    assert final["step"] == expected["step"] == ITERS
    for key, tensor in expected["model"].items():
        assert torch.equal(final["model"][key], tensor), key
    assert deterministic_view(read_metrics(run_dir / "metrics.jsonl")) == \
        deterministic_view(read_metrics(reference["run_dir"] / "metrics.jsonl"))


def test_a_preempted_two_task_job_stops_both_ranks_at_one_step_and_resumes_equal(
        submitter, slurm_cluster, tmp_path, reference_two_tasks):
    run_dir = write_run_dir(tmp_path / "preempted", reference_two_tasks["config"])
    job_id, result = submit_and_preempt_at_step_5(submitter, slurm_cluster, run_dir, tmp_path, 240)
    assert_preempted_once_and_resumed(run_dir, job_id, result)
    _assert_equal_to_reference(run_dir, reference_two_tasks)


def submit_and_preempt_at_step_5(submitter: Submitter, cluster, run_dir: Path, log_dir: Path,
                                 timeout_s: float) -> tuple[str, dict]:
    """Submit a pretraining, let it pass step 5, take its nodes with a `high` job; its result."""
    job_id = submitter.submit("pretrain", run_dir)
    deadline = time.monotonic() + 180
    while _step(run_dir) < 5:
        assert time.monotonic() < deadline, f"job {job_id} did not reach step 5"
        time.sleep(0.2)
    submitter.ids.append(_preempt_whole_node(cluster, log_dir))
    return job_id, _wait_for_result(run_dir, job_id, timeout_s)


def assert_preempted_once_and_resumed(run_dir: Path, job_id: str, result: dict) -> None:
    """Both ranks stopped after one and the same step, rank 0 checkpointed it, SLURM requeued
    the job once, and the requeued run resumed from that step on both ranks."""
    stopped = {rank: [line for line in _rank_log(run_dir, rank).splitlines() if "stopping at step" in line]
               for rank in (0, 1)}
    assert len(stopped[0]) == len(stopped[1]) == 1, stopped  # each rank checkpointed once
    step = int(stopped[0][0].split("stopping at step ")[1].split()[0])
    assert f"stopping at step {step} " in stopped[1][0]  # the ranks agree on the step
    assert 5 <= step < ITERS and result["resumed_from_step"] == step
    assert sorted(CheckpointStore(run_dir / "checkpoints").steps()) == [step, ITERS]  # rank 0 wrote it
    for rank in (0, 1):  # the requeued run (same attempt folder, appended) resumed on both ranks
        assert f"at step {step}" in _rank_log(run_dir, rank).split("stopping at step")[1], rank
    record = wait_for_state(job_id, {"COMPLETED", "FAILED", "CANCELLED"}, 60)  # result.json comes first
    assert (record.state, record.restarts) == ("COMPLETED", 1)  # requeued once by SLURM
    lines = read_metrics(run_dir / "metrics.jsonl")
    assert {m["attempt"] for m in lines} == {1, 2}
    assert min(m["step"] for m in lines if m["attempt"] == 2) == step + 1


def _task_pid(scheduler_id: str, rank: int) -> int | None:
    """The python process of one task of a SLURM job (its environment names job and rank)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in cmdline and f"SLURM_JOB_ID={scheduler_id}".encode() in environ \
                and f"SLURM_PROCID={rank}".encode() in environ:
            return int(entry.name)
    return None


def test_a_killed_rank_fails_the_job_naming_it_and_the_watcher_resubmits_from_the_checkpoint(
        submitter, tmp_path, reference_two_tasks):
    from orchestrator.db import Experiment, Job, make_engine, session_scope, upgrade
    from orchestrator.watcher import Watcher

    config = copy.deepcopy(reference_two_tasks["config"])
    config["schedule"]["checkpoint_every"] = 5
    run_dir = write_run_dir(tmp_path / "runs" / "ddp" / "pretrain", config)
    url = f"sqlite:///{tmp_path / 'orchestrator.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    settings = {"executor": "slurm", "partition": "debug", "signal_delay_s": 30, "max_resubmits": 5,
                "resubmit_backoff_s": [0], "max_parallel": 2, "poll_interval_s": 1}
    name = f"ddp-{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        experiment = Experiment(name="ddp", task="kinetics", scale="demo", config={"cluster": settings},
                                runs_root=str(tmp_path / "runs"))
        experiment.jobs.append(Job(name=name, kind="pretrain", config=config, content_hash=name.ljust(64, "0"),
                                   run_dir=str(run_dir), resources=config["resources"]))
        session.add(experiment)
    watcher = Watcher(engine, "ddp", ClusterSettings.from_mapping(settings), backend="slurm",
                      vanish_grace_s=20, requeue_grace_s=90)
    killed_at = pid = failure = None
    deadline = time.monotonic() + 300
    try:
        while True:
            summary = watcher.poll()
            if summary.finished:
                break
            assert time.monotonic() < deadline, f"not finished: {watcher.summarise()}"
            if pid is None and _step(run_dir) >= 8:
                with session_scope(engine) as session:
                    job = session.scalars(select(Job)).one()
                    submitter.ids.append(job.latest_attempt.scheduler_job_id)
                    pid = _task_pid(job.latest_attempt.scheduler_job_id, 1)
                assert pid is not None, "rank 1's process not found"
                os.kill(pid, signal.SIGKILL)
                killed_at = time.monotonic()
            if killed_at is not None and failure is None:
                status = json.loads((run_dir / "status.json").read_text())
                if status.get("error_kind") == "rank_lost":
                    failure, failed_after = status, time.monotonic() - killed_at
            time.sleep(0.5)
        with session_scope(engine) as session:
            job = session.scalars(select(Job)).one()
            attempts = [(a.number, a.state, a.resumed_from_step, [(t.state, t.reason) for t in a.transitions])
                        for a in job.attempts]
            state = job.state
            submitter.ids.extend(a.scheduler_job_id for a in job.attempts)
    finally:
        engine.dispose()

    assert state == "COMPLETED", attempts
    assert failure is not None, "the job never reported the lost rank"
    assert failed_after < 15  # gloo fails at once; the heartbeat names the rank within seconds
    message = failure["message"]
    assert message.startswith(f"rank 1 of 2 (pid {pid} on ") and "stopped answering" in message
    assert len(attempts) == 2, attempts
    first, second = attempts
    reasons = " ".join(reason or "" for _, reason in first[3])
    assert "NODE_FAIL" in [s for s, _ in first[3]] and f"lost: rank 1 of 2 (pid {pid}" in reasons
    assert second[1] == "COMPLETED"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["resumed_from_step"] == 5 * (failure["step"] // 5) > 0  # the latest checkpoint
    assert "rank 0 saw it at step" in _rank_log(run_dir, 0, attempt=1)
    _assert_equal_to_reference(run_dir, reference_two_tasks)
