"""A standby service that takes over (issue 17): ``ha_lease``, the one row that says which
service leads and until when (its epoch grows at each change of leader), and
``ha_leader_changes``, one row per change of leader.

Revision ID: 0007_ha_leader
Revises: 0006_hash_chain
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ipfm_scheduler.storage.types import UtcDateTime

revision: str = "0007_ha_leader"
down_revision: str | None = "0006_hash_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ha_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ha_lease")),
    )
    op.create_table(
        "ha_leader_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("previous_host", sa.String(length=255), nullable=True),
        sa.Column("previous_pid", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ha_leader_changes")),
        sa.UniqueConstraint("epoch", name=op.f("uq_ha_leader_changes_epoch")),
    )


def downgrade() -> None:
    op.drop_table("ha_leader_changes")
    op.drop_table("ha_lease")
