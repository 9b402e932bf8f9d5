"""runs.auto_resumes: how many times the sweep re-queued an interrupted run by itself

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

One NOT NULL integer with a server default of 0, so existing rows need no backfill. Batch mode
(env.py's render_as_batch) lets SQLite drop the column again on downgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("auto_resumes", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("auto_resumes")
