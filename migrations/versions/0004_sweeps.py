"""sweeps: depth sweeps at initialisation and their points

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

- sweeps: one queued depth sweep (vgp_models.sweep): its SweepConfig as JSON, status and reason as a run's,
  progress in (cure, depth) cells, timestamps, worker and job. AUTOINCREMENT on SQLite, as runs.
- sweep_points: (sweep, cure, depth, seed) -> the first and last weight's mean |grad| at initialisation, or a
  note where that (cure, depth) was skipped; cascades with its sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cells_total", sa.Integer(), nullable=False),
        sa.Column("cells_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("device", sa.String(length=32), nullable=True),
        sa.Column("worker_name", sa.String(length=200), nullable=True),
        sa.Column("job_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_sweeps_status"), "sweeps", ["status"], unique=False)
    op.create_table(
        "sweep_points",
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("cure", sa.String(length=60), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("first_grad", sa.Float(), nullable=True),
        sa.Column("last_grad", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_points_sweep_id_sweeps"), ondelete="CASCADE"
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("sweep_id", "cure", "depth", "seed", name=op.f("pk_sweep_points")),
    )


def downgrade() -> None:
    op.drop_table("sweep_points")
    op.drop_index(op.f("ix_sweeps_status"), table_name="sweeps")
    op.drop_table("sweeps")
