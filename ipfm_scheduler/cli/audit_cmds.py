"""`ipfm-scheduler report` and `ipfm-scheduler log`: the auditors' questions, answered from the
database alone. Both only read (a read-only SQLite copy or a SELECT-only PostgreSQL role is
enough)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from ipfm_scheduler.cli import cli
from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.db_cmds import database_option, database_url
from ipfm_scheduler.core.weeks import IsoWeek, local_midnight
from ipfm_scheduler.errors import NotCompliant, ValueInvalid

F = TypeVar("F", bound=Callable[..., Any])


def parse_week(ctx: click.Context, param: click.Parameter, value: str) -> IsoWeek:
    try:
        return IsoWeek.parse(value)
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def output_options(func: F) -> F:
    func = click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write to this file instead of the screen.",
    )(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help="table for people, csv for Excel (UTF-8 with BOM), json for tools.",
    )(func)


def emit(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)


@cli.command()
@click.option(
    "--week", required=True, callback=parse_week, metavar="YYYY-Www", help="ISO week: 2026-W48."
)
@click.option("--ward", default=None, help="Only this ward (its id).")
@click.option("--programme", default=None, help="Only this programme (its id).")
@output_options
@database_option
@click.pass_obj
def report(
    options: Options,
    *,
    week: IsoWeek,
    ward: str | None,
    programme: str | None,
    fmt: str,
    output: Path | None,
    database: str | None,
) -> None:
    """Per ward and programme in a week: airings planned, commands sent, receivers that
    confirmed `completed` against the minimum, and why each short receiver fell short.

    Exits 1 when a receiver is short in a finished week, or nothing at all is recorded for it.
    """
    from ipfm_scheduler.cli import audit_render as render
    from ipfm_scheduler.storage.audit import open_for_audit
    from ipfm_scheduler.storage.report import week_report

    with open_for_audit(database_url(options, database)) as conn:
        result = week_report(conn, week, now=datetime.now(UTC), ward=ward, programme=programme)
    if not result.recorded:
        wanted = ", ".join(f"{k} {v}" for k, v in (("ward", ward), ("programme", programme)) if v)
        message = render.nothing_recorded(result, wanted or "all wards")
        if fmt == "json":
            emit(render.json_bytes(render.report_json(result) | {"message": message}), output)
        raise NotCompliant(message)
    if fmt == "csv":
        emit(render.csv_bytes(render.REPORT_COLUMNS, render.report_rows(result)), output)
    elif fmt == "json":
        emit(render.json_bytes(render.report_json(result)), output)
    else:
        emit((render.report_table(result) + "\n").encode("utf-8"), output)
    if result.short:
        raise NotCompliant(render.short_summary(result))


DATE = click.DateTime(formats=["%Y-%m-%d"])


@cli.command()
@click.option("--ward", default=None, help="Only this ward (its id).")
@click.option("--receiver", default=None, help="Only this receiver (its id).")
@click.option("--programme", default=None, help="Only this programme (its id).")
@click.option("--from", "first", type=DATE, default=None, help="First local date (YYYY-MM-DD).")
@click.option("--to", "last", type=DATE, default=None, help="Last local date, inclusive.")
@output_options
@database_option
@click.pass_obj
def log(
    options: Options,
    *,
    ward: str | None,
    receiver: str | None,
    programme: str | None,
    first: datetime | None,
    last: datetime | None,
    fmt: str,
    output: Path | None,
    database: str | None,
) -> None:
    """Every airing with each receiver's outcome and times, oldest first."""
    from ipfm_scheduler.cli import audit_render as render
    from ipfm_scheduler.storage.audit import LogFilter, airing_log, open_for_audit, station_zone

    if first and last and last < first:
        raise click.BadParameter(f"--to {last:%Y-%m-%d} is before --from {first:%Y-%m-%d}")
    with open_for_audit(database_url(options, database)) as conn:
        zone = station_zone(conn)
        wanted = LogFilter(
            ward,
            receiver,
            programme,
            start=_day_start(first, zone, 0),
            end=_day_start(last, zone, 1),
        )
        rows = airing_log(conn, wanted)
    if not rows:
        click.echo(f"no airings recorded ({wanted.describe(zone)})", err=fmt != "table")
    if fmt == "csv":
        emit(render.csv_bytes(render.LOG_COLUMNS, render.log_rows(rows, zone)), output)
    elif fmt == "json":
        emit(render.json_bytes(render.log_rows(rows, zone)), output)
    elif rows:
        emit((render.log_table(rows, zone) + "\n").encode("utf-8"), output)


def _day_start(day: datetime | None, zone: Any, plus_days: int) -> datetime | None:
    if day is None:
        return None
    return local_midnight(date(day.year, day.month, day.day) + timedelta(days=plus_days), zone)
