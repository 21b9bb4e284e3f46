"""Alembic environment for the airing log.

``ipfm-scheduler db upgrade`` runs migrations on a connection it opened itself (with the same
SQLite settings as the service). Developers may also run ``alembic`` by hand from the top of the
tree: the database URL is ``-x database=URL``, else ``$IPFM_DATABASE_URL``, else
``sqlalchemy.url`` in alembic.ini.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.tables import metadata

config = context.config


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("database")
    url = url or os.environ.get("IPFM_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x database=URL ... (or IPFM_DATABASE_URL)")
    return url


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = open_engine(database_url())
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
