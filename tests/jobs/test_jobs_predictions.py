"""Which AVA evaluation label map a job reads: the config's, or for the configs the planner
writes without one (training, evaluation) the official name; export requires the config's."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import BadConfigError
from jobs.predictions import ava_annotation_paths, evaluation_labelmap
from model.data.ava_labelmap import AVA_EVALUATED_LABEL_MAP_FILE
from tests.jobs.demo_setup import planned_configs


def test_the_evaluation_label_map_is_the_configs():
    paths = ava_annotation_paths({"root": "/data/ava", "labelmap": "my_60_classes.pbtxt"}, "val")
    assert paths["labelmap"] == Path("/data/ava/annotations/my_60_classes.pbtxt")
    assert paths["groundtruth"] == Path("/data/ava/annotations/ava_val_v2.2.csv")


def test_training_and_evaluation_configs_score_with_the_official_label_map(tmp_path):
    configs = planned_configs("ensemble_ava", tmp_path / "plan")
    for kind in ("finetune_ava", "evaluate"):
        data = next(config["data"] for config in configs.values() if config["job"]["kind"] == kind)
        assert "labelmap" not in data, kind  # the planner writes none: they need the fallback
        assert ava_annotation_paths(data, "val")["labelmap"].name == AVA_EVALUATED_LABEL_MAP_FILE
    exported = next(config["data"] for config in configs.values() if config["job"]["kind"] == "export")
    assert exported["labelmap"] == AVA_EVALUATED_LABEL_MAP_FILE


def test_an_export_config_without_the_label_map_is_refused_naming_file_and_field():
    with pytest.raises(BadConfigError, match=r"^/runs/export/config.yaml: field 'data.labelmap' is missing"):
        evaluation_labelmap(None, Path("/runs/export/config.yaml"))
