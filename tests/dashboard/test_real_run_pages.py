"""Pages in Streamlit's AppTest over a database with the shape of a real (CPU) demo run:
what the Jobs page says a run used, and how it writes times."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from orchestrator.db import Attempt, Job, open_database
from tests.dashboard.real_run_shape import RealRunShape, seed_real_run_shape
from tests.dashboard.test_pages import run_page


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> RealRunShape:
    runs_root = tmp_path_factory.mktemp("real_run_pages") / "runs"
    runs_root.mkdir()
    return seed_real_run_shape(f"sqlite:///{runs_root / 'orchestrator.sqlite'}", runs_root)


def test_a_cpu_run_shows_core_hours_beside_the_estimate_and_readable_times(real_run, monkeypatch):
    monkeypatch.setenv("ORCH_DB_URL", real_run.url)
    monkeypatch.setenv("ORCH_RUNS_ROOT", str(real_run.runs_root))
    engine = open_database(real_run.url)
    with engine.connect() as connection:
        cpu_seconds = sum(connection.execute(select(Attempt.cpu_seconds)).scalars())
        estimate = sum(e["device_hours"] for e in connection.execute(select(Job.estimate)).scalars())
    engine.dispose()

    app = run_page("views/jobs.py", experiment=str(real_run.experiment_id))
    app.toggle(key="auto_refresh").set_value(False).run()
    metrics = {m.label: m.value for m in app.metric}
    assert "GPU-hours" not in metrics  # 0.0 GPU-hours says nothing about a CPU run
    assert metrics["CPU core-hours"] == f"{cpu_seconds / 3600:.3f}"
    assert metrics["Dry-run estimate (core-h)"] == f"{estimate:.3f}"
    attempts = app.dataframe[0].value
    assert attempts["started"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()  # no µs, no offset
    assert attempts["duration"].str.fullmatch(r"(\d+m )?\d+s").all()
    assert not any(re.search(r"\.\d{6}|\+00:00", str(v)) for v in attempts["ended"])
