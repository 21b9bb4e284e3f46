"""The hash chain (issue 13, item 6): ``chain_seq`` and ``chain_hash`` on airings, commands,
acks and week closures, and ``chain_heads``. The rows already recorded are chained here, in id
order (commands: by the time they were stored, then id), so an upgraded database verifies
(``ipfm-scheduler audit verify``) and every later row follows them. A week closed again now adds
rows instead of replacing them: the unique key on (ward, programme, week, receiver) becomes an
index.

Revision ID: 0006_hash_chain
Revises: 0005_signed_answers
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.chain import CHAINED, COVERED, GENESIS, link

revision: str = "0006_hash_chain"
down_revision: str | None = "0005_signed_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000  # rows updated per statement


def upgrade() -> None:
    op.create_table(
        "chain_heads",
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_chain_heads")),
    )
    for name in CHAINED:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))
    for name in CHAINED:
        with op.batch_alter_table(name) as batch:
            batch.create_index(batch.f(f"ix_{name}_chain_seq"), ["chain_seq"], unique=True)
    # week_closures is referenced by no table: SQLite may rebuild it to drop the unique key
    with op.batch_alter_table("week_closures") as batch:
        batch.drop_constraint("uq_week_closures_ward_programme_week_receiver", type_="unique")
        batch.create_index(
            batch.f("ix_week_closures_ward_programme_week_receiver"),
            ["ward", "programme", "week", "receiver"],
            unique=False,
        )
    connection = op.get_bind()
    for name in CHAINED:
        _chain_existing(connection, name)


def _chain_existing(connection: sa.Connection, name: str) -> None:
    """Chain the rows of ``name`` in order, a page at a time (a large log is never held
    whole in memory)."""
    table = getattr(t, name)
    columns = [table.c.id, *(table.c[c] for c in COVERED[name])]
    order = [table.c.created_at, table.c.id] if name == "commands" else [table.c.id]
    update = (
        table.update()
        .where(table.c.id == sa.bindparam("b_id"))
        .values(chain_seq=sa.bindparam("b_seq"), chain_hash=sa.bindparam("b_hash"))
    )
    seq, previous = 0, GENESIS
    after: list[object] | None = None
    while True:
        query = sa.select(*columns).order_by(*order).limit(BATCH)
        if after is not None:
            keys = [sa.literal(value, column.type) for value, column in zip(after, order)]
            query = query.where(sa.tuple_(*order) > sa.tuple_(*keys))
        rows = connection.execute(query).mappings().all()
        if not rows:
            break
        links = []
        for row in rows:
            seq += 1
            previous = link(previous, name, row)
            links.append({"b_id": row["id"], "b_seq": seq, "b_hash": previous})
        connection.execute(update, links)
        after = [rows[-1][column.name] for column in order]
    connection.execute(t.chain_heads.insert().values(table_name=name, seq=seq, hash=previous))


def downgrade() -> None:
    """Back to 0002 (the chain is lost; a week closed twice must be cleaned up by hand first,
    as 0002 allows one row per receiver)."""
    with op.batch_alter_table("week_closures") as batch:
        batch.drop_index(batch.f("ix_week_closures_ward_programme_week_receiver"))
        batch.create_unique_constraint(
            batch.f("uq_week_closures_ward_programme_week_receiver"),
            ["ward", "programme", "week", "receiver"],
        )
    for name in CHAINED:  # not rebuilt on SQLite: other tables' rows refer to these
        op.drop_index(op.f(f"ix_{name}_chain_seq"), table_name=name)
        op.drop_column(name, "chain_hash")
        op.drop_column(name, "chain_seq")
    op.drop_table("chain_heads")
