"""`ipfm-scheduler report` and `ipfm-scheduler log`: the auditors' questions, answered from the
database alone. Both only read (a read-only SQLite copy or a SELECT-only PostgreSQL role is
enough)."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.db_cmds import database_option, database_url
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.core.weeks import IsoWeek, local_midnight
from ipfm_scheduler.errors import NotCompliant, ValueInvalid
from ipfm_scheduler.i18n import _

if TYPE_CHECKING:
    from ipfm_scheduler.storage.audit import AuditConnection
    from ipfm_scheduler.storage.months import Month

F = TypeVar("F", bound=Callable[..., Any])
SQLITE_HEADER = b"SQLite format 3\x00"
OUTPUT = "'-o' / '--output'"
SUFFIXES = ("", "-wal", "-shm", "-journal")  # an SQLite database's files


def parse_week(ctx: click.Context, param: click.Parameter, value: str) -> IsoWeek:
    try:
        return IsoWeek.parse(value)
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def output_options(func: F, *, xlsx: bool = False) -> F:
    formats = ["table", "csv", "json", *(["xlsx"] if xlsx else [])]
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
        type=click.Choice(formats),
        default="table",
        show_default=True,
        help="table for people, csv for Excel (UTF-8 with BOM), json for tools"
        + (", xlsx: an Excel workbook (needs -o)." if xlsx else "."),
    )(func)


def emit(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_whole(output, data)
        click.echo(_("wrote {file}").format(file=output), err=True)


def check_output(output: Path | None, url: str) -> None:
    """Refuse, before any work, an output file in a folder that does not exist, or one whose
    writing would destroy a database: the database being read (or its -wal, -shm, -journal
    file), or any file that is an SQLite database."""
    from ipfm_scheduler.storage.urls import sqlite_file

    if output is None:
        return
    if not output.parent.is_dir():
        raise click.BadParameter(
            _(
                "the folder {folder} does not exist: create it first, or name a file in a "
                "folder that exists"
            ).format(folder=output.parent),
            param_hint=OUTPUT,
        )
    database = sqlite_file(url)
    files = [] if database is None else [database.with_name(database.name + s) for s in SUFFIXES]
    for suffix, path in zip(SUFFIXES, files, strict=False):
        if _same_file(output, path):
            what = (
                _("{file} is the database being read ({suffix} file)")
                if suffix
                else _("{file} is the database being read")
            ).format(file=output, suffix=suffix)
            raise click.BadParameter(
                _("{what}: writing there would destroy it; name another file").format(what=what),
                param_hint=OUTPUT,
            )
    if _is_sqlite_database(output):
        raise click.BadParameter(
            _(
                "{file} is an SQLite database: writing there would destroy it; name another file"
            ).format(file=output),
            param_hint=OUTPUT,
        )


def _same_file(one: Path, other: Path) -> bool:
    try:
        if one.exists() and other.exists():
            return os.path.samefile(one, other)
        return one.resolve() == other.resolve()
    except OSError:
        return False


def _is_sqlite_database(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:  # not there (fine), or not readable (writing will say why)
        return False


def write_whole(output: Path, data: bytes) -> None:
    """Write ``data`` to ``output`` all at once: a temporary file in the same folder, renamed
    over ``output``, so the file never holds half an answer or a mix with an older one."""
    mode = _file_mode(output)
    fd, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, output)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise click.BadParameter(
            _("can't write {file}: {why}").format(file=output, why=exc.strerror or exc),
            param_hint=OUTPUT,
        ) from exc


def _file_mode(output: Path) -> int:
    """The mode of the file replaced, else what a new file gets (0o666 less the umask)."""
    try:
        return output.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def check_ids(
    conn: AuditConnection, *, ward: str | None, programme: str | None, receiver: str | None = None
) -> None:
    """An id given that the database has never heard of is a typo, not "nothing aired"."""
    from ipfm_scheduler.storage.audit import unknown_id

    for kind, value in (("ward", ward), ("programme", programme), ("receiver", receiver)):
        if value is not None:
            why = unknown_id(conn, kind, value, ward=ward)
            if why is not None:
                raise click.BadParameter(why, param_hint=f"'--{kind}'")


def parse_month(ctx: click.Context, param: click.Parameter, value: str | None) -> Month | None:
    from ipfm_scheduler.storage.months import Month

    if value is None:
        return None
    try:
        return Month.parse(value)
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def _parse_week(ctx: click.Context, param: click.Parameter, value: str | None) -> IsoWeek | None:
    return None if value is None else parse_week(ctx, param, value)


@cli.command()
@click.option("--week", callback=_parse_week, metavar="YYYY-Www", help="ISO week: 2026-W48.")
@click.option(
    "--month", callback=parse_month, metavar="YYYY-MM", help="A month: its weeks, summed."
)
@click.option("--ward", default=None, help="Only this ward (its id).")
@click.option("--programme", default=None, help="Only this programme (its id).")
@functools.partial(output_options, xlsx=True)
@database_option
@click.pass_obj
def report(
    options: Options,
    *,
    week: IsoWeek | None,
    month: Month | None,
    ward: str | None,
    programme: str | None,
    fmt: str,
    output: Path | None,
    database: str | None,
) -> None:
    """Per ward and programme in a week (--week) or a month (--month): airings planned,
    commands sent, receivers that confirmed `completed` against the minimum, and why each short
    receiver fell short.

    Exits 1 when a receiver is short in a finished week, or nothing at all is recorded for it.
    """
    from ipfm_scheduler.storage.audit import open_for_audit

    if (week is None) == (month is None):
        raise click.UsageError(_("give one of --week YYYY-Www or --month YYYY-MM"))
    if fmt == "xlsx" and output is None:
        raise click.BadParameter(
            _("an Excel workbook is not for the screen: name a file with -o"), param_hint=OUTPUT
        )
    url = database_url(options, database)
    check_output(output, url)
    with open_for_audit(url) as conn:
        check_ids(conn, ward=ward, programme=programme)
        if month is not None:
            return _month_report(conn, month, ward, programme, fmt, output)
        assert week is not None
        _week_report(conn, week, ward, programme, fmt, output)
    return None


def _week_report(  # noqa: PLR0917 (the options of one command, passed on)
    conn: AuditConnection,
    week: IsoWeek,
    ward: str | None,
    programme: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    import ipfm_scheduler.cli.audit_render as render
    from ipfm_scheduler.cli.month_render import week_workbook
    from ipfm_scheduler.storage.report import week_report

    now = datetime.now(UTC)
    result = week_report(conn, week, now=now, ward=ward, programme=programme)
    if not result.recorded:
        message = render.nothing_recorded(result, ward, programme)
        if fmt == "json":  # the same in every language
            english = render.nothing_recorded(result, ward, programme, english=True)
            emit(render.json_bytes(render.report_json(result) | {"message": english}), output)
        elif fmt == "xlsx":
            emit(week_workbook(result, now), output)
        elif output is not None:  # the file holds this run's answer, never last week's
            emit(render.nothing_recorded_bytes(result, message, fmt), output)
        raise NotCompliant(message)
    if fmt == "csv":
        emit(render.csv_bytes(render.REPORT_COLUMNS, render.report_rows(result)), output)
    elif fmt == "json":
        emit(render.json_bytes(render.report_json(result)), output)
    elif fmt == "xlsx":
        emit(week_workbook(result, now), output)
    else:
        emit((render.report_table(result) + "\n").encode("utf-8"), output)
    if result.short:
        raise NotCompliant(render.short_summary(result))


def _month_report(  # noqa: PLR0917 (the options of one command, passed on)
    conn: AuditConnection,
    month: Month,
    ward: str | None,
    programme: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    import ipfm_scheduler.cli.audit_render as render
    import ipfm_scheduler.cli.month_render as months
    from ipfm_scheduler.storage.months import month_report

    now = datetime.now(UTC)
    result = month_report(conn, month, now=now, ward=ward, programme=programme)
    if fmt == "csv":
        emit(render.csv_bytes(months.MONTH_COLUMNS, months.month_rows(result)), output)
    elif fmt == "json":
        emit(render.json_bytes(months.month_json(result)), output)
    elif fmt == "xlsx":
        emit(months.month_workbook(result, now), output)
    else:
        emit((months.month_table(result) + "\n").encode("utf-8"), output)
    if not result.recorded:
        raise NotCompliant(
            _("nothing recorded for month {month}: no airing was planned or sent").format(
                month=month
            )
        )
    if result.short:
        raise NotCompliant(_("month {month} has short weeks").format(month=month))


#: a local date as ISO writes it or as Vietnamese readers do (05/12/2026: day first)
DATE = click.DateTime(formats=["%Y-%m-%d", "%d/%m/%Y"])


@cli.command()
@click.option("--ward", default=None, help="Only this ward (its id).")
@click.option("--receiver", default=None, help="Only this receiver (its id).")
@click.option("--programme", default=None, help="Only this programme (its id).")
@click.option(
    "--from", "first", type=DATE, default=None, help="First local date (YYYY-MM-DD or dd/mm/yyyy)."
)
@click.option(
    "--to",
    "last",
    type=DATE,
    default=None,
    help="Last local date, inclusive (YYYY-MM-DD or dd/mm/yyyy).",
)
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
    import ipfm_scheduler.cli.audit_render as render
    import ipfm_scheduler.cli.log_render as log_render_module
    from ipfm_scheduler.storage.audit import LogFilter, airing_log, open_for_audit, station_zone

    if first and last and last < first:
        raise click.BadParameter(
            _("--to {last} is before --from {first}").format(
                last=f"{last:%Y-%m-%d}", first=f"{first:%Y-%m-%d}"
            )
        )
    url = database_url(options, database)
    check_output(output, url)
    with open_for_audit(url) as conn:
        check_ids(conn, ward=ward, programme=programme, receiver=receiver)
        zone = station_zone(conn)
        wanted = LogFilter(
            ward,
            receiver,
            programme,
            start=_day_start(first, zone, 0),
            end=_day_start(last, zone, 1),
        )
        rows = airing_log(conn, wanted)
    message = _("no airings recorded ({wanted})").format(wanted=wanted.describe(zone))
    if not rows:
        click.echo(message, err=fmt != "table" or output is not None)
    if fmt == "csv":
        columns = log_render_module.LOG_COLUMNS
        emit(render.csv_bytes(columns, log_render_module.log_rows(rows, zone)), output)
    elif fmt == "json":
        emit(render.json_bytes(log_render_module.log_rows(rows, zone)), output)
    elif rows:
        emit((log_render_module.log_table(rows, zone) + "\n").encode("utf-8"), output)
    elif output is not None:  # the file holds this run's answer, never an older one
        emit((message + "\n").encode("utf-8"), output)


def _day_start(day: datetime | None, zone: Any, plus_days: int) -> datetime | None:
    """The first instant of local ``day`` + ``plus_days``; None (no bound) at the very edge of
    the calendar (--from 0001-01-01, --to 9999-12-31), which every airing is within anyway."""
    if day is None:
        return None
    try:
        first = date(day.year, day.month, day.day) + timedelta(days=plus_days)
        moment = local_midnight(first, zone)
        moment.astimezone(UTC)  # the database compares in UTC
    except OverflowError:
        return None
    return moment
