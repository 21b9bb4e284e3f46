"""`ipfm-scheduler audit verify`: is the airing log as the service wrote it? Checks the hash
chain over airings, commands, acks and week closures (docs/storage.md "The hash chain"), and
optionally the heads a printed report pinned. Only reads."""

from __future__ import annotations

import re

import click

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.db_cmds import database_option, database_url
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.errors import LogTampered
from ipfm_scheduler.i18n import _, ngettext

PIN = re.compile(r"(?P<table>[a-z_]{1,32}):(?P<seq>[0-9]{1,18}):(?P<hash>[0-9a-f]{64})")


@cli.group()
def audit() -> None:
    """Check the airing log itself."""


def parse_pins(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    for value in values:
        found = PIN.fullmatch(value.strip())
        if found is None:
            raise click.BadParameter(
                _(
                    "{value} is not a head as `report` prints it: TABLE:PLACE:HASH "
                    "(HASH: 64 hex digits)"
                ).format(value=repr(value[:100])),
                ctx,
                param,
            )
    return [v.strip() for v in values]


@audit.command()
@click.option(
    "--head",
    "heads",
    multiple=True,
    callback=parse_pins,
    metavar="TABLE:PLACE:HASH",
    help="A head printed by `report` (repeat for each table): the row at that place must "
    "still have that hash.",
)
@database_option
@click.pass_obj
def verify(options: Options, *, heads: list[str], database: str | None) -> None:
    """Check that every airing, command, ack and week-closing row is as the service recorded
    it: each row's hash follows from the row before and the row's content.

    Prints one line per table (rows and head hash). Exits 0 when the log is intact, 1 naming
    the first row of each table that was changed, deleted or inserted.
    """
    from ipfm_scheduler.storage.audit import open_for_audit
    from ipfm_scheduler.storage.chain import CHAINED
    from ipfm_scheduler.storage.chain_check import Pin, check_chain

    pins = [Pin(p[0], int(p[1]), p[2]) for p in (h.split(":") for h in heads)]
    for pin in pins:
        if pin.table not in CHAINED:
            raise click.BadParameter(
                _("{table} is not a chained table (one of {tables})").format(
                    table=repr(pin.table), tables=", ".join(CHAINED)
                ),
                param_hint="'--head'",
            )
    url = database_url(options, database)
    with open_for_audit(url) as conn:
        checks = check_chain(conn, pins)
    for check in checks:
        if check.broken is None:
            line = ngettext(
                "{table}: {rows} row, head {head}, intact",
                "{table}: {rows} rows, head {head}, intact",
                check.rows,
            )
            click.echo(line.format(table=check.table, rows=check.rows, head=check.head))
        else:
            click.echo(
                _("{table}: BROKEN: {what}").format(table=check.table, what=check.broken.what)
            )
    broken = [str(c.broken) for c in checks if c.broken is not None]
    if broken:
        raise LogTampered(broken)
    click.echo(_("the airing log is intact"))
