"""Commands for ward staff and technicians: validate, plan, schema (foundation issue).

`validate` prints its whole report (problems, weekly counts, valid wards) on stdout, and exits
with ``RET_CONFIG`` (3) when anything is wrong; `plan` prints the week's airings on stdout, and
exits 3 if wards had to be left out. Both can print JSON for tools (``--format json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import click

import ipfm_scheduler.cli.config_report as report
from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.reader import quote, suggestion
from ipfm_scheduler.config.schema import schema_text
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.config.summary import enforcement, plan_verdict, weekly
from ipfm_scheduler.core.compliance import WeekCount, overlaps, week_count
from ipfm_scheduler.core.expand import PlannedAiring, expand
from ipfm_scheduler.core.model import Schedule
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ConfigError, ConfigRejected, ValueInvalid
from ipfm_scheduler.i18n import _, language, ngettext, set_language

FORMATS = click.Choice(["table", "json"])
Counted = tuple[WeekCount, str, str]  # a week's count, its verdict, whether (why not) enforced


def _today() -> date:
    """The reference day for campaigns without a start (the CLI is the edge that reads clocks)."""
    return date.today()


def _this_week(schedule: Schedule) -> IsoWeek:
    return IsoWeek.containing(datetime.now(UTC), schedule.timezone)


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _rejected(loaded: LoadedConfig, summary: str) -> ConfigRejected:
    return ConfigRejected(loaded.problems, summary)


@contextmanager
def _machine_words(fmt: str) -> Iterator[None]:
    """English inside, for ``--format json`` (what tools read must not change with the
    language: the problems' messages are built while the files are read); the language spoken
    before, after."""
    if fmt != "json":
        yield
        return
    spoken = language()
    set_language("en")
    try:
        yield
    finally:
        set_language(spoken)


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def validate(opts: Options, fmt: str) -> None:
    """Check the station file and every ward file, and report every problem at once.

    Prints each problem as FILE:LINE:COLUMN: KEY: what is wrong, then warnings (a programme's
    audio that was never normalised), then how many airings a week each valid ward plans
    against the minimum, then which wards are valid. Exits 0 when everything is valid (warnings
    or not), 3 otherwise. Ward staff: run this before handing in a changed file.
    """
    path = opts.station_path()
    with _machine_words(fmt):
        loaded = load(path, today=_today())
        week = _this_week(loaded.schedule) if loaded.schedule else None
        rows = weekly(loaded.schedule, week, _today()) if loaded.schedule and week else []
        warnings = report.audio_warnings(loaded)
        if fmt == "json":
            _echo_json(report.validate_json(loaded, path, week, rows, warnings))
        else:
            click.echo("\n".join(report.validate_text(loaded, path, week, rows, warnings)))
    if not loaded.ok:
        count = len(loaded.problems)
        raise _rejected(
            loaded,
            ngettext(
                "the configuration is not valid ({n} problem)",
                "the configuration is not valid ({n} problems)",
                count,
            ).format(n=count),
        )


def _parse_week(_ctx: click.Context, _param: click.Parameter, value: str | None) -> IsoWeek | None:
    if value is None:
        return None
    try:
        return IsoWeek.parse(value)
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc)) from exc


def _chosen_wards(loaded: LoadedConfig, schedule: Schedule, ward: str | None) -> list[str]:
    """The ward ids to plan: all valid ones, or the one asked for (which must exist)."""
    if ward is None:
        return sorted(schedule.wards)
    if ward in schedule.wards:
        return [ward]
    files = {w.ward_id: name for name, w in loaded.ward_files.items() if w.ward_id}
    # a file so broken that its id could not be read is still found by its name
    named = {Path(name).stem: name for name in loaded.ward_files}
    found = files.get(ward) or named.get(ward)
    if found is not None:
        mine = [p for p in loaded.problems if Path(p.file).name == found]
        raise ConfigError(mine or loaded.problems)
    known = ", ".join(sorted(files)) or _("none")
    hint = suggestion(ward, sorted(files))
    raise click.BadParameter(
        _("there is no ward {ward}{hint}; the wards are: {known}").format(
            ward=quote(ward), hint=hint, known=known
        ),
        param_hint="--ward",
    )


@cli.command()
@click.option(
    "--week", callback=_parse_week, help="ISO week, such as 2026-W48. Default: this week."
)
@click.option("--ward", "ward", default=None, help="Only this ward (its id, such as cam-trung).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
def plan(opts: Options, week: IsoWeek | None, ward: str | None, fmt: str) -> None:
    """The airings the schedule gives in one ISO week, in local time, and each ward's count
    against the weekly minimum (enforced, or not for a partial campaign week).

    Wards whose files have problems are left out (and the command then exits 3).
    """
    with _machine_words(fmt):
        loaded = load(opts.station_path(), today=_today(), secrets=False)
        schedule = loaded.schedule
        if schedule is None:
            raise ConfigError(loaded.problems)
        week = week or _this_week(schedule)
        wards = _chosen_wards(loaded, schedule, ward)
        airings, counts = _plan_week(schedule, wards, week)
        if fmt == "json":
            _echo_json(_plan_json(loaded, schedule, week, airings, counts))
        else:
            click.echo("\n".join(_plan_text(schedule, week, airings, counts)))
    if ward is None and not loaded.ok:
        _valid, broken = report.ward_status(loaded)
        count = len(loaded.problems)
        left_out = _("; left out: {wards}").format(wards=", ".join(broken)) if broken else ""
        raise _rejected(
            loaded,
            ngettext(
                "the configuration has {n} problem{left_out}; run `ipfm-scheduler validate` to "
                "see it",
                "the configuration has {n} problems{left_out}; run `ipfm-scheduler validate` to "
                "see them",
                count,
            ).format(n=count, left_out=left_out),
        )


def _plan_week(
    schedule: Schedule, wards: list[str], week: IsoWeek
) -> tuple[list[PlannedAiring], list[Counted]]:
    """The week's airings of ``wards`` in order, and each ward's count per programme."""
    airings: list[PlannedAiring] = []
    counts: list[Counted] = []
    tz = schedule.timezone
    for ward_id in wards:
        ward = schedule.wards[ward_id]
        airings += expand(ward, schedule.programmes, tz, week.monday, week.sunday)
        for programme in sorted(schedule.programmes.values(), key=lambda p: p.id):
            if programme.min_per_week > 0 and overlaps(programme, week):
                count = week_count(ward, programme, tz, week)
                rule = enforcement(ward, programme, week)
                counts.append((count, plan_verdict(ward, count), rule))
    airings.sort(key=lambda a: (a.start, a.ward, a.programme))
    return airings, counts


def _plan_text(
    schedule: Schedule, week: IsoWeek, airings: list[PlannedAiring], counts: list[Counted]
) -> list[str]:
    return [
        _("Plan for week {week} ({monday} to {sunday}), local time {zone}:").format(
            week=week,
            monday=report.day_words(week.monday),
            sunday=report.day_words(week.sunday),
            zone=schedule.timezone.key,
        ),
        *report.plan_airings_text(airings),
        "",
        _("Weekly minimum in {week}:").format(week=week),
        *report.plan_compliance_text(counts),
    ]


def _plan_json(
    loaded: LoadedConfig,
    schedule: Schedule,
    week: IsoWeek,
    airings: list[PlannedAiring],
    counts: list[Counted],
) -> dict[str, object]:
    return {
        "week": str(week),
        "monday": week.monday.isoformat(),
        "sunday": week.sunday.isoformat(),
        "timezone": schedule.timezone.key,
        "airings": [report.airing_json(a) for a in airings],
        "compliance": [
            {
                "ward": c.ward,
                "programme": c.programme,
                "planned": c.planned,
                "minimum": c.minimum,
                "enforced": c.enforced,
                "rule": why,
                "verdict": verdict,
            }
            for c, verdict, why in counts
        ],
        "problems": [report.problem_json(p) for p in loaded.problems],
    }


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the schema to this file instead of printing it.",
)
def schema(output: Path | None) -> None:
    """The JSON Schema (draft-07) of a ward file, for editors that underline mistakes.

    Ward files point at it with a first line `# yaml-language-server: $schema=../ward.schema.json`.
    """
    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:  # no such folder, not allowed, disk full: say so, no traceback
        raise click.BadParameter(
            _("can't write {file}: {why}").format(file=output, why=exc.strerror or exc),
            param_hint="'-o' / '--output'",
        ) from exc
    click.echo(_("wrote {file}").format(file=output), err=True)
