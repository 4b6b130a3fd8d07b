"""A train+val fine-tune under the report's plateau rule cuts where its train run cut: the
schedule the job builds from its config and the train run's result.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.config import JobConfig
from jobs.errors import BadConfigError
from jobs.training import schedule_section


def _config(tmp_path: Path, schedule: dict, inputs: dict) -> JobConfig:
    return JobConfig({"job": {"name": "finetune_ava.trainval.m"}, "schedule": schedule, "inputs": inputs},
                     tmp_path / "config.yaml")


def test_train_plus_val_cuts_at_the_train_runs_cuts_scaled_by_the_length_ratio(tmp_path):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"step": 12000, "lr_cuts": [6000, 10000]}))
    schedule = {"name": "steps", "max_iters": 18000, "steps": [], "steps_from": {"input": "lr_cuts", "factor": 1.5}}
    resolved = schedule_section(_config(tmp_path, schedule, {"lr_cuts": str(result)}))
    assert resolved["steps"] == [9000, 15000] and "steps_from" not in resolved
    # A fixed schedule is left as written.
    fixed = {"name": "steps", "max_iters": 18000, "steps": [9000, 13500]}
    assert schedule_section(_config(tmp_path, fixed, {})) == fixed


def test_a_train_run_without_cut_points_is_a_bad_config(tmp_path):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"step": 12000}))  # a run under fixed cuts
    schedule = {"name": "steps", "max_iters": 18000, "steps": [], "steps_from": {"input": "lr_cuts", "factor": 1.5}}
    with pytest.raises(BadConfigError, match="gives no 'lr_cuts'"):
        schedule_section(_config(tmp_path, schedule, {"lr_cuts": str(result)}))
