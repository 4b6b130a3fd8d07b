"""config.yaml's schema (jobs/schema.py): every config the planner writes matches its kind's
schema, a job reads it typed with the schema's defaults, and a missing or mistyped field is an
error naming the field (and the job when planning, the file when running)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from jobs import schema
from jobs.config import ConfigSchemaError, load_job_config, parse_job_config
from jobs.errors import BadConfigError
from orchestrator.planner import PlanningError, compose_experiment, plan_experiment, to_plain


def _plan(experiment: str, scale: str, *overrides: str):
    return plan_experiment(to_plain(compose_experiment(experiment, [f"scale={scale}", *overrides])),
                           runs_root=Path("/runs"))


@pytest.fixture(scope="module")
def plans():
    return {(experiment, scale): _plan(experiment, scale) for experiment in ("ensemble_ava", "kinetics_challenge")
            for scale in ("demo", "paper")}


def test_every_planned_config_reads_as_its_kinds_schema(plans) -> None:
    for plan in plans.values():
        for job in plan.jobs:
            spec = parse_job_config(job.config)
            assert isinstance(spec, schema.KIND_SCHEMAS[job.kind]), job.name
            assert spec.job.name == job.name and spec.resources.nodes == job.resources["nodes"]


def test_the_views_per_clip_are_the_datasets_own(plans) -> None:
    # Sec. 2: one clip at the keyframe, processed whole; Sec. 3: 10 clips x 3 crops.
    ava = plans["ensemble_ava", "paper"].by_name()["evaluate.val.sf8x8"].config["data"]
    kinetics = plans["kinetics_challenge", "paper"].by_name()["evaluate.test.sf8x8"].config["data"]
    assert (ava["test_num_clips"], ava["test_num_crops"]) == (1, 1)
    assert (kinetics["test_num_clips"], kinetics["test_num_crops"]) == (10, 3)


def test_a_job_reads_typed_values_and_the_schemas_defaults(plans, tmp_path) -> None:
    config = copy.deepcopy(plans["ensemble_ava", "demo"].by_name()["finetune_ava.train.sf8x8"].config)
    config["inputs"] = {"init_checkpoint": "/runs/k600.pt"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cfg = load_job_config(tmp_path)
    assert cfg.spec.data.train_jitter_scales == config["data"]["train_jitter_scales"]
    assert cfg.spec.schedule.steps == config["schedule"]["steps"] and cfg.spec.schedule.plateau is None
    assert cfg.spec.job.precision == "auto" and cfg.spec.job.log_every == 10  # not in the file
    assert cfg.spec.inputs == {"init_checkpoint": "/runs/k600.pt"}
    assert cfg.raw == config  # as written, for the checkpoint's provenance


@pytest.mark.parametrize("change, field", [
    (lambda c: c["data"].update(batch_size="eight"), "data.batch_size"),
    (lambda c: c["data"].pop("train_jitter_scales"), "data.train_jitter_scales"),
    (lambda c: c["schedule"].update(max_iter=10), "schedule.max_iter"),
    (lambda c: c["job"].update(kind="train"), "job.kind"),
])
def test_a_wrong_field_is_a_bad_config_naming_the_file_and_the_field(plans, tmp_path, change, field) -> None:
    config = copy.deepcopy(plans["ensemble_ava", "demo"].by_name()["finetune_ava.train.sf8x8"].config)
    change(config)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(BadConfigError, match=f"{tmp_path / 'config.yaml'}: .*'{field}'"):
        load_job_config(tmp_path)
    with pytest.raises(ConfigSchemaError) as error:
        parse_job_config(config)
    assert error.value.field == field


def test_the_planner_refuses_a_config_that_does_not_match_naming_the_job_and_field(monkeypatch) -> None:
    # A value passed through from the dataset's config with the wrong type ...
    with pytest.raises(PlanningError, match=r"ensemble.val: config.yaml field 'data.num_eval_classes'"):
        _plan("ensemble_ava", "demo", "datasets.ava.num_eval_classes=sixty")
    # ... and a field the resolver left out.
    from orchestrator.planner.resolve import Resolver

    data_block = Resolver.data_block

    def without_test_clips(self, *args, **kwargs):
        block = data_block(self, *args, **kwargs)
        block.pop("test_num_clips")
        return block

    monkeypatch.setattr(Resolver, "data_block", without_test_clips)
    with pytest.raises(PlanningError, match=r"pretrain.k600.slowfast_8x8: config.yaml field 'data.test_num_clips' is missing"):
        _plan("kinetics_challenge", "demo")


def test_the_schemas_are_registered_in_hydras_config_store() -> None:
    from hydra.core.config_store import ConfigStore

    for kind, cls in schema.KIND_SCHEMAS.items():
        node = ConfigStore.instance().load(f"{schema.CONFIG_GROUP}/{kind}.yaml").node
        assert set(node.keys()) == {f.name for f in dataclasses.fields(cls)}


def test_every_field_says_what_it_is() -> None:
    """One comment per field (the convention of hydra-submitit-launcher's SlurmQueueConf)."""
    for cls in {c for c in vars(schema).values() if dataclasses.is_dataclass(c)}:
        lines, _ = inspect.getsourcelines(cls)
        for field in dataclasses.fields(cls):
            line = next(text for text in lines if text.strip().startswith(f"{field.name}:"))
            assert "#" in line, f"{cls.__name__}.{field.name} has no comment"
