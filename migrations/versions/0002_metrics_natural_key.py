"""Metrics keyed by their natural key; one partial index over the val rows.

The metrics table is the one that grows without bound (one row per metrics.jsonl line), and
each B-tree on it is paid at every ingested row. Revision 0001 kept three: the surrogate `id`
(plus its sequence on PostgreSQL), the unique natural key (job_id, split, name, step), and
(split, name, job_id, step) for cross-job reads. Now:

- the natural key is the primary key; the surrogate id is gone (nothing referenced it). On
  SQLite the table becomes WITHOUT ROWID, so a row lives in the primary-key B-tree alone.
  On PostgreSQL the primary key is built before the unique constraint it replaces is dropped.
- the cross-job index covers only `split = 'val'` rows (name, job_id, step): the leaderboard
  and status read val metrics only, and training curves -- the bulk of the rows -- are read
  per job through the primary key.
- `attempt_id` loses its foreign key (job_id keeps its own, with ON DELETE CASCADE). On
  PostgreSQL each foreign key is a row trigger with a FOR KEY SHARE lookup, measured at a
  third of COPY's time per key. It protected nothing here: attempts are never deleted except
  with their job (whose cascade removes the metrics), and ingest takes attempt ids from the
  job's own attempt rows in the same transaction.

Ingest of training rows got faster by 1.6x on SQLite and 3x on PostgreSQL (bench/RESULTS.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:10:00
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_COLUMNS = "job_id, attempt_id, step, split, name, value, time"
_OLD_INDEX = "ix_metrics_split_name_job_step"
_NEW_INDEX = "ix_metrics_val_name_job_step"
_VAL_ONLY = sa.text("split = 'val'")


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


def _job_foreign_key() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name='fk_metrics_job_id_jobs', ondelete='CASCADE')


def _attempt_foreign_key() -> sa.ForeignKeyConstraint:
    """Revision 0001's; gone at 0002."""
    return sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name='fk_metrics_attempt_id_attempts',
                                   ondelete='SET NULL')


def _copy_sqlite_table(columns: list[sa.Column], constraints: list, **table_kwargs) -> None:
    """SQLite cannot change a primary key in place: build the new table, copy, swap."""
    op.create_table('metrics_migrating', *columns, *constraints, **table_kwargs)
    op.execute(f"INSERT INTO metrics_migrating ({_COLUMNS}) SELECT {_COLUMNS} FROM metrics")
    op.drop_table('metrics')
    op.rename_table('metrics_migrating', 'metrics')


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite_table(
            _data_columns(),
            [_job_foreign_key(), sa.PrimaryKeyConstraint('job_id', 'split', 'name', 'step', name='pk_metrics')],
            sqlite_with_rowid=False)
    else:
        op.drop_constraint('fk_metrics_attempt_id_attempts', 'metrics', type_='foreignkey')
        op.drop_constraint('pk_metrics', 'metrics', type_='primary')
        op.drop_column('metrics', 'id')  # drops its sequence too
        op.create_primary_key('pk_metrics', 'metrics', ['job_id', 'split', 'name', 'step'])
        op.drop_constraint('uq_metrics_natural_key', 'metrics', type_='unique')
        op.drop_index(_OLD_INDEX, table_name='metrics')
    op.create_index(_NEW_INDEX, 'metrics', ['name', 'job_id', 'step'], unique=False,
                    sqlite_where=_VAL_ONLY, postgresql_where=_VAL_ONLY)


def downgrade() -> None:
    op.drop_index(_NEW_INDEX, table_name='metrics')
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite_table(
            [sa.Column('id', sa.Integer(), nullable=False), *_data_columns()],
            [_job_foreign_key(), _attempt_foreign_key(), sa.PrimaryKeyConstraint('id', name='pk_metrics'),
             sa.UniqueConstraint('job_id', 'split', 'name', 'step', name='uq_metrics_natural_key')])
    else:
        op.drop_constraint('pk_metrics', 'metrics', type_='primary')
        op.create_unique_constraint('uq_metrics_natural_key', 'metrics', ['job_id', 'split', 'name', 'step'])
        op.execute("ALTER TABLE metrics ADD COLUMN id BIGSERIAL NOT NULL")  # numbers the rows
        op.create_primary_key('pk_metrics', 'metrics', ['id'])
        op.create_foreign_key('fk_metrics_attempt_id_attempts', 'metrics', 'attempts', ['attempt_id'], ['id'],
                              ondelete='SET NULL')
    op.create_index(_OLD_INDEX, 'metrics', ['split', 'name', 'job_id', 'step'], unique=False)
