"""The AVA scoring's annotation files come from the config alone: no label map of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import BadConfigError
from jobs.predictions import ava_annotation_paths, evaluation_labelmap


def test_the_evaluation_label_map_is_the_configs():
    paths = ava_annotation_paths({"root": "/data/ava", "labelmap": "my_60_classes.pbtxt"}, "val")
    assert paths["labelmap"] == Path("/data/ava/annotations/my_60_classes.pbtxt")
    assert paths["groundtruth"] == Path("/data/ava/annotations/ava_val_v2.2.csv")


@pytest.mark.parametrize("data", [{"root": "/data/ava"}, {"root": "/data/ava", "labelmap": None}])
def test_a_config_without_the_evaluation_label_map_is_refused_naming_the_field(data):
    with pytest.raises(BadConfigError, match="field 'data.labelmap' is missing"):
        ava_annotation_paths(data, "val")


def test_the_refusal_names_the_config_file():
    with pytest.raises(BadConfigError, match=r"^/runs/export/config.yaml: field 'data.labelmap'"):
        evaluation_labelmap(None, Path("/runs/export/config.yaml"))
