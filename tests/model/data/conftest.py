"""Small generated datasets shared by the data tests (real H.264 MP4 files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from model.data.synthetic import generate_ava, generate_kinetics


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def kinetics_root(tmp_path_factory) -> Path:
    return generate_kinetics(tmp_path_factory.mktemp("kinetics"), seed=3, num_classes=3,
                             videos_per_class=3, eval_videos_per_class=2)


@pytest.fixture(scope="session")
def ava_root(tmp_path_factory) -> Path:
    return generate_ava(tmp_path_factory.mktemp("ava"), seed=5, movies=(2, 1, 1),
                        duration_s=8)


@pytest.fixture
def editable_copy(tmp_path):
    """``editable_copy(root)``: annotations copied (for a test to break), videos linked."""

    def copy(source: Path) -> Path:
        target = tmp_path / "copy"
        shutil.copytree(source / "annotations", target / "annotations")
        (target / "videos").symlink_to(source / "videos", target_is_directory=True)
        return target

    return copy
