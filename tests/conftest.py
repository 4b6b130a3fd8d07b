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
