"""sweep_points.last_signal_std: the depth sweep's forward signal beside its gradient ratio

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

- sweep_points.last_signal_std: the across-batch std of the last conv's output at initialisation (mean over the
  sweep's batches); NULL for a skipped (cure, depth) and for points measured before it existed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sweep_points") as batch:
        batch.add_column(sa.Column("last_signal_std", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweep_points") as batch:
        batch.drop_column("last_signal_std")
