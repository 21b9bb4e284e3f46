"""Signed answers (protocol version 2): whether each ack and status was verified (signed by its
receiver's own key), and whether a command's state was set by a verified answer.

``acks.verified`` and ``receiver_status_events.verified`` are false for the rows written before
(no answer was verified then); ``commands.answer_verified`` is null for them (not marked).

Revision ID: 0005_signed_answers
Revises: 0004_bounded_intake
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_signed_answers"
down_revision: str | None = "0004_bounded_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("acks", "receiver_status_events"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false())
            )
    with op.batch_alter_table("commands") as batch:
        batch.add_column(sa.Column("answer_verified", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+), not a rebuilt table: other tables' rows refer to these,
    # and SQLite refuses to drop a referenced table inside the migration's transaction
    op.drop_column("commands", "answer_verified")
    for table in ("receiver_status_events", "acks"):
        op.drop_column(table, "verified")
