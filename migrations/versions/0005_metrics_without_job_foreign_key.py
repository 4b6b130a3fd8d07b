"""Metrics without a foreign key to `jobs`; deleting a job deletes its metrics by a trigger.

A foreign key is checked at every inserted row: on PostgreSQL a row trigger with a
FOR KEY SHARE lookup of the job, on SQLite (foreign_keys=ON) a probe of the jobs table.
Measured on the 200,000 rows of one ingest (bench/RESULTS.md, "Orchestrator"): PostgreSQL's
`Trigger for constraint fk_metrics_job_id_jobs` took 2.4 s of the insert's 6.4 s, every
call asking about the same job. It protected nothing that ingest does not already know: the
orchestrator is the only writer of the database and ingests rows of a job it has just read
(`ingest_job(session, job)`, in the same transaction as the job's offset update).

What the key did on deletion stays, as a statement per deleted job instead of a check per
inserted metric: an AFTER DELETE trigger on `jobs` deletes the job's metrics, so deleting an
experiment (its jobs go by their own ON DELETE CASCADE) still leaves no metric behind.

SQLite cannot drop a constraint in place: the table is rebuilt (as in 0002), WITHOUT ROWID,
with its primary key and the partial index over val rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_COLUMNS = "job_id, attempt_id, step, split, name, value, time"
_JOB_FOREIGN_KEY = 'fk_metrics_job_id_jobs'
_VAL_INDEX = "ix_metrics_val_name_job_step"
_VAL_ONLY = sa.text("split = 'val'")
_TRIGGER = "trg_jobs_delete_metrics"
_PG_FUNCTION = "delete_job_metrics"


def _data_columns() -> list[sa.Column]:
    return [
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('attempt_id', sa.Integer(), nullable=True),
        sa.Column('step', sa.BigInteger(), nullable=False),
        sa.Column('split', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('time', sa.Float(), nullable=True),
    ]


def _rebuild_sqlite_metrics(*constraints) -> None:
    """Build the table with ``constraints`` beside the primary key, copy the rows, swap, and
    index the val rows again (the index went with the old table)."""
    op.create_table('metrics_migrating', *_data_columns(), *constraints,
                    sa.PrimaryKeyConstraint('job_id', 'split', 'name', 'step', name='pk_metrics'),
                    sqlite_with_rowid=False)
    op.execute(f"INSERT INTO metrics_migrating ({_COLUMNS}) SELECT {_COLUMNS} FROM metrics")
    op.drop_table('metrics')
    op.rename_table('metrics_migrating', 'metrics')
    op.create_index(_VAL_INDEX, 'metrics', ['name', 'job_id', 'step'], unique=False, sqlite_where=_VAL_ONLY)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_metrics()
        op.execute(f"CREATE TRIGGER {_TRIGGER} AFTER DELETE ON jobs FOR EACH ROW "
                   "BEGIN DELETE FROM metrics WHERE job_id = OLD.id; END")
    else:
        op.drop_constraint(_JOB_FOREIGN_KEY, 'metrics', type_='foreignkey')
        op.execute(f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN DELETE FROM metrics WHERE job_id = OLD.id; RETURN OLD; END $$")
        op.execute(f"CREATE TRIGGER {_TRIGGER} AFTER DELETE ON jobs FOR EACH ROW "
                   f"EXECUTE FUNCTION {_PG_FUNCTION}()")


def downgrade() -> None:
    # Metrics of jobs that no longer exist cannot be here (the trigger deleted them), so the
    # key can be added back without cleaning up first.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER {_TRIGGER}")
        _rebuild_sqlite_metrics(
            sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=_JOB_FOREIGN_KEY, ondelete='CASCADE'))
    else:
        op.execute(f"DROP TRIGGER {_TRIGGER} ON jobs")
        op.execute(f"DROP FUNCTION {_PG_FUNCTION}()")
        op.create_foreign_key(_JOB_FOREIGN_KEY, 'metrics', 'jobs', ['job_id'], ['id'], ondelete='CASCADE')
