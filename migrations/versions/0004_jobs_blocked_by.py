"""What blocks a job, as a column: `jobs.blocked_by_job_id`.

The watcher cancels a PLANNED job whose dependency FAILED or was CANCELLED, and until now
said so only in the message (`error = "blocked: dependency <name> is <state>"`), which the
`retry` command parsed to find the jobs to plan again. The column names the dependency; the
message stays, for people.

No foreign key: SQLite cannot drop a column that a foreign key uses without rebuilding the
table (and a batch rebuild of `jobs` with foreign keys on cascades into every attempt,
metric and artefact, see 0003), and the watcher sets it only from a dependency's own row.

Existing rows are filled from their message: the dependency of the job whose name the
message quotes (compared as text, not with LIKE: job names hold underscores).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 07:40:00
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_BLOCKED_PREFIX = "blocked: dependency "


def upgrade() -> None:
    op.add_column('jobs', sa.Column('blocked_by_job_id', sa.Integer(), nullable=True))
    quoted = f"'{_BLOCKED_PREFIX}' || dependency.name || ' is '"
    op.execute(
        "UPDATE jobs SET blocked_by_job_id = ("
        " SELECT dependency.id FROM jobs AS dependency"
        " JOIN job_dependencies AS edge ON edge.depends_on_id = dependency.id"
        f" WHERE edge.job_id = jobs.id AND substr(jobs.error, 1, length({quoted})) = {quoted}"
        " ORDER BY dependency.id LIMIT 1)"
        f" WHERE jobs.state = 'CANCELLED' AND substr(jobs.error, 1, {len(_BLOCKED_PREFIX)}) = '{_BLOCKED_PREFIX}'")


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35, PostgreSQL), not batch mode: see 0003. The message
    # still says what blocked the job.
    op.drop_column('jobs', 'blocked_by_job_id')
