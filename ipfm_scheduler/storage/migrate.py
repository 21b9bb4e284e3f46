"""Alembic, wrapped: where the migration scripts are, which revision a database is at, upgrade.

The scripts live in ``migrations/`` at the top of the source tree (a checkout, or an editable
install as ``scripts/bootstrap.sh`` makes). A wheel installs the same files under
``<prefix>/share/ipfm-scheduler/migrations`` (``[tool.setuptools.data-files]`` in pyproject.toml).
Both are found from any working directory; no ``alembic.ini`` is needed (the one at the top of
the tree is for developers running ``alembic`` by hand).
"""

from __future__ import annotations

import site
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

import ipfm_scheduler
from ipfm_scheduler.errors import SchemaTooNew, StorageError
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage.tables import metadata
from ipfm_scheduler.storage.urls import describe, shown

INSTALLED = Path("share") / "ipfm-scheduler" / "migrations"
#: the PostgreSQL advisory lock that serialises upgrades of one database ("ipfm-mig" as bytes)
UPGRADE_LOCK_KEY = int.from_bytes(b"ipfm-mig", "big")


def _candidates() -> Iterator[Path]:
    source_root = Path(ipfm_scheduler.__file__).resolve().parent.parent
    if (source_root / "pyproject.toml").is_file():
        yield source_root / "migrations"
    bases = [sys.prefix, sysconfig.get_path("data"), site.getuserbase()]
    for base in dict.fromkeys(bases):
        yield Path(base) / INSTALLED


def script_location() -> Path:
    """The folder holding ``env.py`` and ``versions/``."""
    for folder in _candidates():
        if (folder / "env.py").is_file() and (folder / "versions").is_dir():
            return folder
    looked = ", ".join(str(p) for p in _candidates())
    raise StorageError(
        _("the database migration scripts are missing (looked in {looked})").format(looked=looked)
    )


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the scripts; with ``connection``, migrations run on it."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = scripts().get_current_head()
    if head is None:  # pragma: no cover - the package always ships its first revision
        raise StorageError(_("the database migration scripts hold no revision"))
    return head


def known_revision(revision: str) -> bool:
    try:
        return scripts().get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: no schema yet)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(describe(exc, engine.url)) from exc


def refuse_unknown(current: str | None, url: str | URL) -> None:
    """Raise :class:`SchemaTooNew` when a newer ipfm-scheduler upgraded the database."""
    if current is not None and not known_revision(current):
        raise SchemaTooNew(current, head_revision(), shown(url))


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``target``; returns the revisions before and after.

    Upgrades of one database run one at a time: SQLite's writers wait for each other
    (``BEGIN IMMEDIATE``); on PostgreSQL the transaction first takes an advisory lock, so a
    second upgrade waits for the first, then finds the schema current. A database that a newer
    program upgraded is refused (:class:`SchemaTooNew`) and left as it is.
    """
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
            before = MigrationContext.configure(conn).get_current_revision()
            refuse_unknown(before, engine.url)
            command.upgrade(alembic_config(conn), target)
    except SQLAlchemyError as exc:
        raise StorageError(describe(exc, engine.url)) from exc
    except CommandError as exc:  # such as a target revision the scripts do not hold
        raise StorageError(
            _("database {url}: {error}").format(url=shown(engine.url), error=exc)
        ) from exc
    return before, current_revision(engine)


def drift(engine: Engine) -> list[Any]:
    """Differences between the tables in :mod:`tables` and the database (empty: none)."""
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    except SQLAlchemyError as exc:
        raise StorageError(describe(exc, engine.url)) from exc
