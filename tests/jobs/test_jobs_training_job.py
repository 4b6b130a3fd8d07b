"""TrainingJob, the kind that trains: its own methods decide the task it accepts and where its
weights start, and keep the trainer as the job's state (what checkpoint() saves)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from jobs.errors import JobFailure
from jobs.finetune_ava import FinetuneAvaJob
from jobs.pretrain import PretrainJob
from jobs.training import TrainingJob
from tests.jobs.demo_setup import planned_configs, shrink, write_run_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    return planned_configs("ensemble_ava", tmp_path_factory.mktemp("runs"))


def _failure(job: TrainingJob) -> dict:
    with pytest.raises(JobFailure, match="bad_config"):
        job()
    status = json.loads((job.run_dir / "status.json").read_text())
    assert (status["state"], status["error_kind"]) == ("failed", "bad_config")
    return status


def test_the_training_kinds_are_training_jobs_with_their_task():
    assert issubclass(PretrainJob, TrainingJob) and PretrainJob.task == "kinetics"
    assert issubclass(FinetuneAvaJob, TrainingJob) and FinetuneAvaJob.task == "ava"


def test_a_kind_refuses_the_other_task(tmp_path, planned):
    run_dir = write_run_dir(tmp_path / "run", planned["finetune_ava.train.sf8x8"], init_checkpoint="/x.pt")
    status = _failure(PretrainJob(run_dir))
    assert "'model.task' must be 'kinetics' for pretrain" in status["message"]


def test_an_ava_fine_tune_needs_a_kinetics_checkpoint_unless_allowed(tmp_path, planned):
    config = copy.deepcopy(planned["finetune_ava.train.sf8x8"])
    status = _failure(FinetuneAvaJob(write_run_dir(tmp_path / "refused", config)))
    assert "'inputs.init_checkpoint' is missing" in status["message"]


def test_train_keeps_the_trainer_as_the_jobs_own_state(tmp_path, planned, kinetics_root):
    config = shrink(planned["pretrain.k600.slowfast_8x8"], model="slowfast_8x8_r50_tiny", iters=2,
                    checkpoint_every=1000)
    config["data"].update(root=str(kinetics_root), batch_size=4)
    config["schedule"].update(global_batch=4, warmup_iters=1, bn_group_size=4)
    config["model"]["num_classes"] = 6
    job = PretrainJob(write_run_dir(tmp_path / "run", config))
    assert job._trainer is None
    result = job()
    assert job._trainer is not None and job._trainer.step == 2 == job._total_steps == result["step"]
    assert (job.run_dir / result["checkpoint"]).is_file()
