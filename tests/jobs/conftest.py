"""Datasets shared by the job tests, generated once per session by the real generator."""
import pytest

from tests.jobs.demo_setup import generate


@pytest.fixture(scope="session")
def kinetics_root(tmp_path_factory):
    """6 classes (the demo's K600 class count), 12 training videos per class."""
    return generate(tmp_path_factory.mktemp("data") / "kinetics", "--kind", "kinetics",
                    "--num-classes", "6")


@pytest.fixture(scope="session")
def ava_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("data") / "ava", "--kind", "ava")
