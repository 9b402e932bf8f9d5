"""runs.uuid and never-reused ids; in-epoch progress; the checkpoints table

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

- runs.uuid: a unique uuid4 per run, backfilled for existing rows, so that a checkpoint, a run folder
  or a Redis key names its run unambiguously even where an id is reused.
- runs on SQLite becomes AUTOINCREMENT (a table rebuild in batch mode): a deleted run's id is never
  handed out again. Postgres sequences never reuse ids already.
- runs.epoch_step, epoch_steps, epoch_started_at: progress inside the epoch in flight.
- checkpoints: (run, kind last|best) -> epoch, run uuid, bytes, sha256, created_at; cascades with its run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("uuid", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("epoch_step", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("epoch_steps", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("epoch_started_at", sa.DateTime(timezone=True), nullable=True))
    runs = sa.table("runs", sa.column("id", sa.Integer()), sa.column("uuid", sa.String()))
    connection = op.get_bind()
    for (run_id,) in connection.execute(sa.select(runs.c.id)).all():
        connection.execute(runs.update().where(runs.c.id == run_id).values(uuid=str(uuid.uuid4())))
    # recreate="always" rebuilds the table on SQLite, which is the only way to add AUTOINCREMENT there.
    with op.batch_alter_table(
        "runs",
        recreate="always" if connection.dialect.name == "sqlite" else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch:
        batch.alter_column("uuid", existing_type=sa.String(length=36), nullable=False)
        batch.create_unique_constraint("uq_runs_uuid", ["uuid"])
    op.create_table(
        "checkpoints",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("run_uuid", sa.String(length=36), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_checkpoints_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "kind", name="pk_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("checkpoints")
    connection = op.get_bind()
    with op.batch_alter_table(
        "runs",
        recreate="always" if connection.dialect.name == "sqlite" else "auto",
        table_kwargs={"sqlite_autoincrement": False},
    ) as batch:
        batch.drop_constraint("uq_runs_uuid", type_="unique")
        batch.drop_column("epoch_started_at")
        batch.drop_column("epoch_steps")
        batch.drop_column("epoch_step")
        batch.drop_column("uuid")
