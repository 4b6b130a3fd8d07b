"""The cross-job metric reads (CLI leaderboard/status, dashboard leaderboard) must never read
the whole metrics table: each access to it is either the partial index over val rows or a
primary-key search bounded by a job id. With only the val rows indexed by name (revision
0002), a query that stopped saying `split = 'val'` literally would silently read every
training-curve row. Checked on the query plans of both databases."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, text

from dashboard.queries.leaderboard import leaderboard
from orchestrator.db import VAL_METRICS_INDEX, session_scope
from orchestrator.views.leaderboard import ava_leaderboard, kinetics_leaderboard
from orchestrator.views.status import job_status_rows


@contextmanager
def _captured_metric_queries(engine):
    """Collect (statement, parameters) of every SELECT that reads the metrics table."""
    captured: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and " metrics" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _unbounded_metric_reads(engine, statement: str, parameters) -> list[str]:
    """The plan steps that read `metrics` neither through the val index nor by a key search."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        if engine.dialect.name == "sqlite":
            steps = [str(row[-1]) for row in driver.execute("EXPLAIN QUERY PLAN " + statement, parameters)]
            return [step for step in steps if " metrics" in step and not (
                step.startswith("SEARCH metrics") or VAL_METRICS_INDEX in step)]
        with driver.cursor() as cursor:
            # A few seeded rows make a sequential scan the cheapest plan; forbid it to see
            # whether the indexes can serve the query at all.
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0][0]["Plan"]
    bad: list[str] = []

    def walk(node: dict) -> None:
        if node.get("Relation Name") == "metrics" or node.get("Index Name", "").startswith(("pk_metrics", "ix_metrics")):
            # A primary-key condition bounds the read only through its leading column, job_id
            # (PostgreSQL also lists conditions on later columns of a full index scan).
            bounded = node.get("Index Name") == VAL_METRICS_INDEX or "job_id =" in node.get("Index Cond", "") or (
                node["Node Type"] == "Bitmap Heap Scan")  # judged by its Bitmap Index Scan children
            if not bounded:
                bad.append(f"{node['Node Type']} {node.get('Index Name', '')} {node.get('Filter', '')}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return bad


def test_leaderboard_and_status_never_scan_the_metrics_table(seeded_db, engine, session_factory):
    with _captured_metric_queries(engine) as captured:
        with session_scope(session_factory) as session:
            assert ava_leaderboard(session) and kinetics_leaderboard(session)
            assert job_status_rows(session)
        assert not leaderboard(engine).empty
    assert len(captured) >= 4
    for statement, parameters in captured:
        assert _unbounded_metric_reads(engine, statement, parameters) == [], statement


def test_training_rows_are_not_in_the_val_index(seeded_db, engine):
    """The partial index holds exactly the val rows (PostgreSQL: its predicate; SQLite: its
    entry count via the index-only count)."""
    with engine.connect() as connection:
        val_rows = connection.execute(text("SELECT count(*) FROM metrics WHERE split = 'val'")).scalar_one()
        all_rows = connection.execute(text("SELECT count(*) FROM metrics")).scalar_one()
        if engine.dialect.name == "postgresql":
            definition = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                                            {"name": VAL_METRICS_INDEX}).scalar_one()
            assert "WHERE" in definition and "'val'" in definition
        else:
            definition = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = :name"),
                                            {"name": VAL_METRICS_INDEX}).scalar_one()
            assert "WHERE split = 'val'" in definition
    assert 0 < val_rows < all_rows
