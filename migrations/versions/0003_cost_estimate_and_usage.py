"""A job's cost estimate and an attempt's measured usage.

- `jobs.estimate` (JSON, nullable): what `orchestrator.cost` estimated when the plan was
  recorded (device-hours and their unit, wall seconds, disk bytes, where the rate came from).
  Stored, not recomputed, because computing it needs torch and `status` must start without it.
- `attempts.gpu_seconds`, `attempts.cpu_seconds` (nullable): what the allocation used, from
  SLURM accounting (ElapsedRaw x allocated GPUs / CPUs over every run of a requeued job) or,
  for a local process, its wall time x the GPUs / CPUs it asked for.

Rows recorded before this revision keep NULL: no estimate, usage unknown.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 15:20:00
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('jobs', sa.Column('estimate', sa.JSON(), nullable=True))
    op.add_column('attempts', sa.Column('gpu_seconds', sa.BigInteger(), nullable=True))
    op.add_column('attempts', sa.Column('cpu_seconds', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL), not batch mode: a batch
    # rebuild drops and re-creates `jobs`, and with foreign keys on (orchestrator.db.engine)
    # dropping it cascades into every attempt, metric and artefact of every job.
    op.drop_column('attempts', 'cpu_seconds')
    op.drop_column('attempts', 'gpu_seconds')
    op.drop_column('jobs', 'estimate')
