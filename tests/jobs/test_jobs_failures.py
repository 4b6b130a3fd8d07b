"""Bad input makes a job fail clearly: status.json ``failed`` with the error kind and a message
naming the field or file, exit status 1 from the CLI, nothing already written lost."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from jobs.base import RunDirJob
from jobs.errors import JobFailure
from jobs.finetune_ava import FinetuneAvaJob
from jobs.pretrain import PretrainJob
from orchestrator.executors.registry import UnknownJobKindError, job_entry
from tests.jobs.demo_setup import ROOT, planned_configs, shrink, write_run_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    return planned_configs("ensemble_ava", tmp_path_factory.mktemp("runs"))


@pytest.fixture
def configs(planned):
    return copy.deepcopy(planned)


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def test_the_orchestrator_resolves_every_kind_to_a_checkpointable_job():
    for kind in ("pretrain", "finetune_ava", "evaluate", "ensemble", "export"):
        cls = job_entry(kind)
        assert issubclass(cls, RunDirJob) and cls.kind == kind
    with pytest.raises(UnknownJobKindError):
        job_entry("train_everything")


def test_unknown_model_is_bad_config_from_the_cli(tmp_path, configs):
    config = configs["pretrain.k600.slowfast_8x8"]
    config["model"]["name"] = "slowfast_99x99_r7"
    run_dir = write_run_dir(tmp_path / "run", config)
    done = subprocess.run([sys.executable, "-m", "jobs.pretrain", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1
    status = _status(run_dir)
    assert status["state"] == "failed" and status["error_kind"] == "bad_config"
    assert "slowfast_99x99_r7" in status["message"] and "model" in status["message"]
    assert "slowfast_99x99_r7" in done.stderr
    assert not (run_dir / "result.json").exists()


def test_missing_init_checkpoint_is_bad_config(tmp_path, configs):
    run_dir = write_run_dir(tmp_path / "run", configs["finetune_ava.train.sf8x8"],
                            init_checkpoint=tmp_path / "nowhere" / "step_000092.pt")
    with pytest.raises(JobFailure):
        FinetuneAvaJob(run_dir)()
    status = _status(run_dir)
    assert status["error_kind"] == "bad_config" and "nowhere/step_000092.pt" in status["message"]


def test_checkpoint_of_another_architecture_is_bad_config(tmp_path, configs):
    from model.engine.checkpoint import CheckpointStore
    from model.nets import build

    other = build("fast_b1_32x2_r101_tiny", task="kinetics", num_classes=6)
    path = CheckpointStore(tmp_path / "other").save({"model": other.state_dict()}, 92)
    run_dir = write_run_dir(tmp_path / "run", configs["finetune_ava.train.sf8x8"],
                            init_checkpoint=path)
    with pytest.raises(JobFailure):
        FinetuneAvaJob(run_dir)()
    status = _status(run_dir)
    assert status["error_kind"] == "bad_config" and "backbone" in status["message"]


def test_empty_training_split_is_bad_data(tmp_path, configs):
    root = tmp_path / "kinetics"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n")
    (root / "annotations" / "classes.txt").write_text("a\nb\n")
    config = configs["pretrain.k600.slowfast_8x8"]
    config["data"]["root"] = str(root)
    run_dir = write_run_dir(tmp_path / "run", config)
    with pytest.raises(JobFailure):
        PretrainJob(run_dir)()
    status = _status(run_dir)
    assert status["error_kind"] == "bad_data" and "train.csv" in status["message"]


def test_finished_run_directory_is_not_run_again(tmp_path, configs):
    run_dir = write_run_dir(tmp_path / "run", configs["pretrain.k600.slowfast_8x8"])
    (run_dir / "result.json").write_text(json.dumps({"kind": "pretrain", "step": 92}))
    assert PretrainJob(run_dir)() == {"kind": "pretrain", "step": 92}
    assert not (run_dir / "status.json").exists()


@pytest.mark.slow
def test_nan_loss_stops_with_step_lr_and_checkpoint(tmp_path, configs, kinetics_root):
    config = shrink(configs["pretrain.k600.slowfast_8x8"], model="slowfast_8x8_r50_tiny",
                    iters=20, base_lr=1e9, warmup=0, checkpoint_every=1)
    config["data"]["root"] = str(kinetics_root)
    config["job"]["log_every"] = 1
    run_dir = write_run_dir(tmp_path / "run", config)
    with pytest.raises(JobFailure, match="nan_loss"):
        PretrainJob(run_dir)()
    status = _status(run_dir)
    assert status["state"] == "failed" and status["error_kind"] == "nan_loss"
    assert "not finite at step" in status["message"] and "lr" in status["message"]
    step = status["step"]
    assert 0 < step < 20
    assert f"step_{step:06d}.pt" in status["message"]  # the pointer to the last good state
    assert (run_dir / "checkpoints" / f"step_{step:06d}.pt").is_file()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) >= step  # the metrics of the good steps are kept
    assert not (run_dir / "result.json").exists()


class _InterruptedJob(RunDirJob):
    """Checkpoints as submitit's preemption handler would, then fails as its requeue step can."""

    kind = "interrupted"
    scheduler_wait_s = 0.2

    def __init__(self, run_dir, error: Exception | None = None, save_error: Exception | None = None) -> None:
        super().__init__(run_dir)
        self.error, self.save_error = error, save_error

    def run(self, cfg):
        self._step = 3
        self.checkpoint()
        raise self.error

    def checkpoint(self, *args, **kwargs):
        if self.save_error is not None:
            raise self.save_error
        return super().checkpoint(*args, **kwargs)


def test_a_requeue_killed_after_the_checkpoint_leaves_the_run_checkpointed(tmp_path, configs):
    """SLURM's SIGTERM to the job's processes can kill `scontrol requeue` itself: not a failure."""
    run_dir = write_run_dir(tmp_path / "run", configs["pretrain.k600.slowfast_8x8"])
    killed = subprocess.CalledProcessError(-15, ["scontrol", "requeue", "200"])
    with pytest.raises(SystemExit):
        _InterruptedJob(run_dir, killed)()
    status = _status(run_dir)
    assert status["state"] == "checkpointed" and status["step"] == 3
    assert not (run_dir / "result.json").exists()


@pytest.mark.parametrize("error, when", [
    (subprocess.CalledProcessError(1, ["scontrol", "requeue", "200"]), "no checkpoint was taken"),
    (ValueError("a bug after the checkpoint"), "not a requeue error"),
])
def test_other_errors_around_a_checkpoint_stay_failures(tmp_path, configs, error, when):
    run_dir = write_run_dir(tmp_path / "run", configs["pretrain.k600.slowfast_8x8"])
    job = _InterruptedJob(run_dir, error)
    if when == "no checkpoint was taken":
        job.checkpoint = lambda *a, **k: None  # the handler never reached checkpoint()
    with pytest.raises(JobFailure):
        job()
    assert _status(run_dir)["state"] == "failed", when


def test_a_checkpoint_that_cannot_be_saved_is_a_failure(tmp_path, configs):
    run_dir = write_run_dir(tmp_path / "run", configs["pretrain.k600.slowfast_8x8"])
    with pytest.raises(JobFailure, match="No space left"):
        _InterruptedJob(run_dir, save_error=OSError(28, "No space left on device"))()
    status = _status(run_dir)
    assert status["state"] == "failed" and "No space left" in status["message"]
