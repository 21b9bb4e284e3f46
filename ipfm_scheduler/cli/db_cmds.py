"""`ipfm-scheduler db ...`: bring the database to the latest schema, or say where it stands.

Also the one place commands find their database: ``--database URL``, else
``$IPFM_DATABASE_URL``, else the station file's ``database:`` key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config import addresses
from ipfm_scheduler.config.addresses import DATABASE_ENV
from ipfm_scheduler.config.nodes import syntax_problem
from ipfm_scheduler.errors import ConfigError, ConfigProblem
from ipfm_scheduler.i18n import _

F = TypeVar("F", bound=Callable[..., Any])


def database_option(func: F) -> F:
    """``--database URL`` for every command that reads or writes the airing log."""
    return click.option(
        "--database",
        "database",
        metavar="URL",
        default=None,
        help=f"The database (sqlite:///path or postgresql+psycopg://user@host/db). "
        f"Default: ${DATABASE_ENV}, else `database:` in the station file.",
    )(func)


def database_url(options: Options, given: str | None) -> str:
    """``--database``, else ``$IPFM_DATABASE_URL``, else the station file's ``database:``.

    Only the ``database:`` key of the station file is read, so auditors can work with a station
    file whose other parts don't apply on their machine (no broker, no audio folder). The URL
    follows the station file's rules (config/addresses.py): a relative SQLite path is relative
    to the station file's folder (to the current folder for --database and the environment).
    """
    if given is not None:  # a wrong --database is a wrong argument (exit 2), not a bad config
        if not given.strip():
            raise click.BadParameter(
                _(
                    "--database is empty: give a database URL ({forms}), or leave the option out "
                    "to use ${env} or the station file's database"
                ).format(forms=addresses.DATABASE_FORMS, env=DATABASE_ENV),
                param_hint="'--database'",
            )
        try:
            return addresses.database_url(given, Path.cwd())
        except addresses.Unusable as exc:
            raise click.BadParameter(str(exc), param_hint="'--database'") from exc
    from_env = os.environ.get(DATABASE_ENV)
    if from_env:
        return _normalised(from_env, Path.cwd(), f"${DATABASE_ENV}")
    return _station_database_url(options.station_path())


def _normalised(url: str, base: Path, source: str) -> str:
    try:
        return addresses.database_url(url, base)
    except addresses.Unusable as exc:
        raise ConfigError([ConfigProblem(source, 0, 0, "", str(exc))]) from exc


def _station_database_url(path: Path) -> str:
    """The station file's ``database:`` (a relative SQLite path is relative to that file)."""
    hint = _("give --database URL or set ${env}").format(env=DATABASE_ENV)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    0,
                    0,
                    "",
                    _("can't read the station file ({error}); {hint}").format(error=exc, hint=hint),
                )
            ]
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:  # located, in words: not YAML's copy of the line,
        # which may hold the database's password
        raise ConfigError([syntax_problem(exc, text, str(path))]) from exc
    except yaml.YAMLError as exc:
        problem = ConfigProblem(
            str(path), 0, 0, "", _("is not valid YAML; {hint}").format(hint=hint)
        )
        raise ConfigError([problem]) from exc
    url = data.get("database") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.strip():
        expected = _("a database URL such as sqlite:////var/lib/ipfm-scheduler/ipfm.db")
        problem = ConfigProblem(
            str(path), 0, 0, "database", _("missing: expected {expected}").format(expected=expected)
        )
        raise ConfigError([problem])
    return _normalised(url, path.parent, f"{path}: database")


@cli.group()
def db() -> None:
    """The airing log's database: create or upgrade its schema, check it."""


@db.command()
@database_option
@click.pass_obj
def upgrade(options: Options, database: str | None) -> None:
    """Create the schema, or bring it to the latest version (safe to run again)."""
    from ipfm_scheduler.storage.db import open_engine, shown
    from ipfm_scheduler.storage.db import revision_without_writing as current
    from ipfm_scheduler.storage.migrate import head_revision, refuse_unknown
    from ipfm_scheduler.storage.migrate import upgrade as run_upgrade

    url = database_url(options, database)
    before = current(url)  # read-only: an up-to-date database (even a read-only file) is left be
    refuse_unknown(before, url)
    if before != head_revision():
        engine = open_engine(url)
        try:
            before, after = run_upgrade(engine)
        finally:
            engine.dispose()
    else:
        after = before
    if before == after:
        click.echo(
            _("database {url}: already at schema {schema} (the latest); nothing to do").format(
                url=shown(url), schema=after
            )
        )
    else:
        was = before or _("empty")
        click.echo(
            _("database {url}: upgraded from schema {was} to {schema} (the latest)").format(
                url=shown(url), was=was, schema=after
            )
        )


@click.command()
@database_option
@click.pass_obj
def check(options: Options, database: str | None) -> None:
    """Say which schema version the database is at, against the latest (exit 4 if behind)."""
    from ipfm_scheduler.storage.db import open_engine, require_current, shown
    from ipfm_scheduler.storage.migrate import current_revision, head_revision

    url = database_url(options, database)
    engine = open_engine(url, read_only=True)
    try:
        current, head = current_revision(engine), head_revision()
        click.echo(
            _("database {url}: schema {schema}, latest {head}").format(
                url=shown(url), schema=current or _("empty"), head=head
            )
        )
        require_current(engine)
    finally:
        engine.dispose()
    click.echo(_("up to date"))


db.add_command(check, name="check")
db.add_command(check, name="status")
