"""Bounded under attack (issue 13, item 4): a quarantined message keeps its first 1 KiB, its
size and its sha256, and a repeat of it is counted on its row (``repeats``,
``last_repeat_at``); an ack repeating one already stored is counted in ``ack_repeats`` instead
of being stored again (the acks table itself is left as it was: its rows never change).

Revision ID: 0004_bounded_intake
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_bounded_intake"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ack_quarantine") as batch:
        batch.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("repeats", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("last_repeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_ack_quarantine_sha256"), ["sha256"], unique=False)
    op.create_table(
        "ack_repeats",
        sa.Column("ack_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ack_id"], ["acks.id"], name=op.f("fk_ack_repeats_ack_id_acks")
        ),
        sa.PrimaryKeyConstraint("ack_id", name=op.f("pk_ack_repeats")),
    )


def downgrade() -> None:
    op.drop_table("ack_repeats")
    with op.batch_alter_table("ack_quarantine") as batch:
        batch.drop_index(batch.f("ix_ack_quarantine_sha256"))
        batch.drop_column("last_repeat_at")
        batch.drop_column("repeats")
        batch.drop_column("sha256")
