"""Shared pytest configuration: fixture modules are plugins so each area owns its own."""

import sys
from pathlib import Path

# Make `tests.*` importable (fixture plugins, shared test data builders) without
# requiring an __init__.py in every test folder.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

pytest_plugins = [
    "tests.fixtures_db",
    "tests.fixtures_slurm",
]


def pytest_configure(config) -> None:
    """Keep the network-cost cache (orchestrator/cost/network_costs.py) of a test run out of the
    user's ~/.cache: one folder per run, shared by its tests and the processes they start."""
    import os
    import tempfile

    if "ORCH_CACHE_DIR" not in os.environ:
        os.environ["ORCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="orch-test-cache-")
