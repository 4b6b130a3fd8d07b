"""Job reuse and export manifests hash configs as canonical JSON: pinned values, so that a
change of the serialisation (key order, separators, ``ensure_ascii``) cannot silently make
every finished job look new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract.files import canonical_json
from orchestrator.export import config_sha256
from orchestrator.planner import compose_experiment, plan_experiment, to_plain
from orchestrator.planner.dag import content_hash

CONFIG = {"job": {"kind": "finetune_ava", "name": "finetune_ava.train.sf8x8", "experiment": "ensemble_ava",
                  "seed": 0, "device": "auto"},
          "model": {"name": "slowfast_8x8_r101_nl", "task": "ava", "num_classes": 80},
          "schedule": {"base_lr": 0.1, "max_iters": 12000, "steps": [0.5, 0.75]},
          "inputs": {"init_checkpoint": "/runs/x/pretrain/checkpoints/step_000100.pt"},
          "resources": {"nodes": 1, "gpus_per_node": 8}}


def test_content_hash_of_a_known_config_is_pinned():
    assert content_hash(CONFIG, {"pretrain.k600.slowfast_8x8": "a" * 64}) == \
        "d453142e6c275fce1fd3da9bdf4df285181a1bff898f08ac729ff20002cb16fc"
    # place-specific keys (inputs, resources, the job's name and experiment) are not hashed
    moved = {**CONFIG, "inputs": {}, "resources": {}, "job": {**CONFIG["job"], "experiment": "other"}}
    assert content_hash(moved, {"pretrain.k600.slowfast_8x8": "a" * 64}) == \
        content_hash(CONFIG, {"pretrain.k600.slowfast_8x8": "a" * 64})


def test_config_sha256_of_a_known_config_is_pinned():
    assert config_sha256(CONFIG) == "25a5f42f3e2391f9123eb80bad3fe43f910f3898133706a949345097dcba26f7"


@pytest.mark.parametrize("experiment", ["ensemble_ava", "kinetics_challenge"])
@pytest.mark.parametrize("scale", ["demo", "paper"])
def test_planned_configs_serialise_alike_with_and_without_ensure_ascii(experiment, scale):
    """The planner's configs are ASCII, so the hashes recorded while manifests used
    ``ensure_ascii=True`` are the ones canonical JSON gives now."""
    plan = plan_experiment(to_plain(compose_experiment(experiment, [f"scale={scale}"])), runs_root=Path("/runs"))
    for job in plan.jobs:
        assert canonical_json(job.config) == json.dumps(job.config, sort_keys=True, separators=(",", ":")), job.name
