"""A train+val fine-tune under the report's plateau rule cuts where its train run cut: the
schedule the job builds from its config and the train run's result.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from jobs.config import JobConfig
from jobs.errors import BadConfigError
from jobs.training import resolved_schedule
from tests.jobs.demo_setup import planned_configs


@pytest.fixture(scope="module")
def trainval_config(tmp_path_factory) -> dict:
    """The demo plan's train+val fine-tune of one member, as the planner writes it."""
    return planned_configs("ensemble_ava", tmp_path_factory.mktemp("plan"))["finetune_ava.trainval.sf8x8"]


def _config(tmp_path: Path, planned: dict, schedule: dict, inputs: dict) -> JobConfig:
    raw = copy.deepcopy(planned)
    raw["schedule"].update(schedule)
    raw["inputs"] = inputs
    return JobConfig.checked(raw, tmp_path / "config.yaml")


def test_train_plus_val_cuts_at_the_train_runs_cuts_scaled_by_the_length_ratio(tmp_path, trainval_config):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"step": 12000, "lr_cuts": [6000, 10000]}))
    schedule = {"name": "steps", "max_iters": 18000, "steps": [], "steps_from": {"input": "lr_cuts", "factor": 1.5}}
    resolved = resolved_schedule(_config(tmp_path, trainval_config, schedule, {"lr_cuts": str(result)}))
    assert resolved.steps == [9000, 15000] and resolved.steps_from is None
    # A fixed schedule is left as written.
    fixed = {"name": "steps", "max_iters": 18000, "steps": [9000, 13500]}
    cfg = _config(tmp_path, trainval_config, fixed, {})
    assert resolved_schedule(cfg) == cfg.spec.schedule and cfg.spec.schedule.steps == [9000, 13500]


def test_a_train_run_without_cut_points_is_a_bad_config(tmp_path, trainval_config):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"step": 12000}))  # a run under fixed cuts
    schedule = {"name": "steps", "max_iters": 18000, "steps": [], "steps_from": {"input": "lr_cuts", "factor": 1.5}}
    with pytest.raises(BadConfigError, match="gives no 'lr_cuts'"):
        resolved_schedule(_config(tmp_path, trainval_config, schedule, {"lr_cuts": str(result)}))
    with pytest.raises(BadConfigError, match="'inputs.lr_cuts' is missing"):
        resolved_schedule(_config(tmp_path, trainval_config, schedule, {}))
