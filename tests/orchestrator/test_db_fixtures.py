"""The PostgreSQL half of the DB fixtures must fail loudly, never skip, without a server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_unreachable_postgres_fails_the_postgres_tests_with_the_url(tmp_path):
    probe = tmp_path / "test_probe_pg.py"
    probe.write_text("def test_uses_db(db_url):\n    assert db_url\n")
    env = {**os.environ, "ORCH_TEST_PG_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
           "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(probe), "-q", "-p", "no:cacheprovider", "-p", "tests.fixtures_db",
         "--rootdir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "1 passed" in output and "1 error" in output, output  # sqlite passes, postgresql errors
    assert "skipped" not in output
    assert "PostgreSQL unreachable at postgresql+psycopg://nobody@127.0.0.1:1/none" in output
