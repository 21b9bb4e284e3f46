"""``ipfm-scheduler http-user add NAME``: a name and password for the web pages, written to the
password file ``http.users`` names (bcrypt hashes; the password is never printed or logged)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.errors import ConfigError, ValueInvalid
from ipfm_scheduler.i18n import _

MAX_STDIN = 4096


@cli.group("http-user")
def http_user() -> None:
    """Who may read the web pages and /metrics from another computer (http.users)."""


@http_user.command("add")
@click.argument("name")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The password file (default: http.users of the station file).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@click.pass_obj
def add(opts: Options, name: str, path: Path | None, password_stdin: bool) -> None:
    """Add NAME (or change its password). The password is asked twice, not shown."""
    from ipfm_scheduler.service.http.passwords import add_user, check_name, check_password

    try:
        check_name(name)
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    file = path or _users_file(opts)
    if password_stdin:
        password = sys.stdin.readline(MAX_STDIN).rstrip("\r\n")
    else:
        password = click.prompt(
            _("password for {name}").format(name=name),
            hide_input=True,
            confirmation_prompt=_("the same password again"),
        )
    try:
        new = add_user(file, name, check_password(password))
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), param_hint=_("password")) from exc
    except OSError as exc:
        raise click.FileError(str(file), exc.strerror or str(exc)) from exc
    said = _("added {name} to {file}") if new else _("changed the password of {name} in {file}")
    click.echo(said.format(name=name, file=file))


def _users_file(opts: Options) -> Path:
    loaded = load(opts.station_path(), today=date.today(), secrets=False)
    if loaded.station is None:
        raise ConfigError(loaded.problems)
    users = loaded.station.http.users
    if users is None:
        raise click.UsageError(
            _(
                "the station file names no password file: add `users: http-users` under "
                "`http:` in {file} (or give --file)"
            ).format(file=opts.station_path())
        )
    return users
