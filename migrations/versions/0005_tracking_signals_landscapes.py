"""run origin and cancel request; per-step rows; forward signal and updates per layer; loss landscapes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

- runs.origin: queued | tracked | imported (backfilled: runs tagged "imported" are imported), so that a
  tracked run is never re-queued and an imported one never resumed.
- runs.cancel_requested_at: Cancel for a run with no RQ job (a tracked run polls it).
- steps: (run, global step) -> epoch, training loss, lr, seconds since the run started.
- signals: (run, epoch, layer) -> the forward signal's mean, std and share of negative values.
- gradients.weight_norm, gradients.update_ratio: what each weight tensor learned over the epoch.
- landscapes, landscape_points: a loss landscape job (as sweeps) and its grid of loss and accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=16), server_default="queued", nullable=False))
        batch.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))
    runs = sa.table(
        "runs", sa.column("id", sa.Integer()), sa.column("tags", sa.JSON()), sa.column("origin", sa.String())
    )
    connection = op.get_bind()
    for run_id, tags in connection.execute(sa.select(runs.c.id, runs.c.tags)).all():
        if isinstance(tags, list) and "imported" in tags:
            connection.execute(runs.update().where(runs.c.id == run_id).values(origin="imported"))
    with op.batch_alter_table("gradients") as batch:
        batch.add_column(sa.Column("weight_norm", sa.Float(), nullable=True))
        batch.add_column(sa.Column("update_ratio", sa.Float(), nullable=True))
    op.create_table(
        "steps",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        _run_fk("steps"),
        sa.PrimaryKeyConstraint("run_id", "step", name="pk_steps"),
    )
    op.create_table(
        "signals",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("layer_index", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=120), nullable=False),
        sa.Column("mean", sa.Float(), nullable=True),
        sa.Column("std", sa.Float(), nullable=True),
        sa.Column("negative_share", sa.Float(), nullable=True),
        _run_fk("signals"),
        sa.PrimaryKeyConstraint("run_id", "epoch", "layer_index", name="pk_signals"),
    )
    op.create_table(
        "landscapes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("points_total", sa.Integer(), nullable=False),
        sa.Column("points_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("device", sa.String(length=32), nullable=True),
        sa.Column("worker_name", sa.String(length=200), nullable=True),
        sa.Column("job_id", sa.String(length=100), nullable=True),
        _run_fk("landscapes"),
        sa.PrimaryKeyConstraint("id", name="pk_landscapes"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_landscapes_run_id", "landscapes", ["run_id"], unique=False)
    op.create_index("ix_landscapes_status", "landscapes", ["status"], unique=False)
    op.create_table(
        "landscape_points",
        sa.Column("landscape_id", sa.Integer(), nullable=False),
        sa.Column("i", sa.Integer(), nullable=False),
        sa.Column("j", sa.Integer(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("beta", sa.Float(), nullable=True),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("acc", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["landscape_id"], ["landscapes.id"], name="fk_landscape_points_landscape_id_landscapes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("landscape_id", "i", "j", name="pk_landscape_points"),
    )


def downgrade() -> None:
    op.drop_table("landscape_points")
    op.drop_index("ix_landscapes_status", table_name="landscapes")
    op.drop_index("ix_landscapes_run_id", table_name="landscapes")
    op.drop_table("landscapes")
    op.drop_table("signals")
    op.drop_table("steps")
    with op.batch_alter_table("gradients") as batch:
        batch.drop_column("update_ratio")
        batch.drop_column("weight_norm")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cancel_requested_at")
        batch.drop_column("origin")
