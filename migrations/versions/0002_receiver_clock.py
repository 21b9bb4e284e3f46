"""Receivers' clocks: ``receiver_status.clock_offset_s``, the receiver's clock against the
service's when it last said its status live (the status's own ``at`` against when it arrived).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
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
    with op.batch_alter_table("receiver_status") as batch:
        batch.add_column(sa.Column("clock_offset_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("receiver_status") as batch:
        batch.drop_column("clock_offset_s")
