"""What `validate` and `plan` print: plain tables for people, JSON for tools."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ipfm_scheduler.audio.catalogue import Catalogue
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.config.summary import WardWeekly
from ipfm_scheduler.core.compliance import WeekCount
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import AudioError, ConfigProblem
from ipfm_scheduler.i18n import _, date_text, language, ngettext, weekday_name


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned columns, two spaces apart."""
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]


def problem_json(p: ConfigProblem) -> dict[str, Any]:
    return {
        "file": p.file,
        "line": p.line,
        "column": p.column,
        "path": p.path,
        "message": p.message,
    }


def count_json(count: WeekCount | None) -> dict[str, Any] | None:
    if count is None:
        return None
    return {"week": str(count.week), "planned": count.planned, "enforced": count.enforced}


def shown_folder(station_path: Path) -> str:
    """The station file's folder as the user would type it (file names are relative to it)."""
    folder = (
        station_path.parent
        if station_path.is_absolute()
        else Path(os.path.relpath(station_path.resolve().parent))
    )
    return f"{folder}/" if str(folder) != "/" else "/"


def ward_status(loaded: LoadedConfig) -> tuple[list[str], list[str]]:
    """Ids of the valid wards, and the names of ward files with problems."""
    valid = sorted(w.ward_id for w in loaded.ward_files.values() if w.valid and w.ward_id)
    broken = sorted(
        f"{w.ward_id} ({name})" if w.ward_id else name
        for name, w in loaded.ward_files.items()
        if not w.valid
    )
    return valid, broken


def unread_programmes(loaded: LoadedConfig) -> list[str]:
    """Programmes the station file declares but that could not be read (their audio missing,
    say): the wards' airings of them were not checked for length nor for the weekly minimum."""
    if loaded.declared is None or loaded.schedule is None:
        return []
    return sorted(set(loaded.declared) - set(loaded.schedule.programmes))


def files_with_problems(problems: Sequence[ConfigProblem]) -> list[str]:
    return sorted({p.file for p in problems})


def audio_warnings(loaded: LoadedConfig) -> list[str]:
    """Programme audio that is not a catalogued recording, so not normalised: a warning, not
    a problem (the station airs it as it is)."""
    station = loaded.station
    if station is None or not station.programme_audio:
        return []
    try:
        catalogue = Catalogue.load(station.audio.dir)
    except AudioError as exc:
        return [_("cannot tell whether the programmes' audio is normalised: {why}").format(why=exc)]
    by_sha = {e.sha256: e for e in catalogue.entries}
    by_file = {e.file: e for e in catalogue.entries}
    warnings = []
    for programme, audio in sorted(station.programme_audio.items()):
        name = audio.path.name
        if audio.sha256 in by_sha:
            continue
        if name in by_file:
            why = _(
                "its content changed since it was catalogued (see `ipfm-scheduler audio check`)"
            )
        else:
            why = _("it is not in the audio catalogue, so its loudness was never normalised")
        warnings.append(
            _(
                "programme {programme}: audio {name}: {why}; import the recording with "
                "`ipfm-scheduler audio add FILE --programme {programme}` and set audio: to the "
                "file it names"
            ).format(programme=programme, name=name, why=why)
        )
    return warnings


def validate_text(
    loaded: LoadedConfig,
    station_path: Path,
    week: IsoWeek | None,
    rows: list[WardWeekly],
    warnings: Sequence[str] = (),
) -> list[str]:
    folder = shown_folder(station_path)
    lines = [
        _("Station file {path} (file names below are relative to {folder})").format(
            path=station_path, folder=folder
        )
    ]
    if loaded.problems:
        lines += ["", *(str(p) for p in loaded.problems)]
    if warnings:
        lines += ["", *(_("warning: {warning}").format(warning=w) for w in warnings)]
    if loaded.notes:
        heading = _("Read as (days and dates written in another accepted form; not problems):")
        lines += ["", heading, *(f"  {n}" for n in loaded.notes)]
    lines.append("")
    unread = unread_programmes(loaded)
    lines += weekly_section(week, rows, unread)
    valid, broken = ward_status(loaded)
    # without a readable station file (its time zone, or a programme whose length is unknown)
    # the wards were read but not checked against it: they are not called valid
    checked = week is not None and not unread
    label = (
        _("Valid wards ({valid} of {total}): {wards}")
        if checked
        else _("Wards read, not checked against the station ({valid} of {total}): {wards}")
    )
    lines += [
        "",
        label.format(
            valid=len(valid), total=len(loaded.ward_files), wards=", ".join(valid) or _("none")
        ),
    ]
    if broken:
        lines.append(
            _("Ward files with problems ({count}): {files}").format(
                count=len(broken), files=", ".join(broken)
            )
        )
    lines.append(verdict_line(loaded))
    return lines


def weekly_section(week: IsoWeek | None, rows: list[WardWeekly], unread: list[str]) -> list[str]:
    """The weekly counts, or why there are none."""
    if week is None:
        return [
            _(
                "Weekly counts: not available until the station file's timezone and programmes "
                "can be read."
            )
        ]
    if unread:
        return [
            ngettext(
                "Weekly counts: not available until the station file's programme {programmes} "
                "can be read (see the problems above).",
                "Weekly counts: not available until the station file's programmes {programmes} "
                "can be read (see the problems above).",
                len(unread),
            ).format(programmes=", ".join(unread))
        ]
    return weekly_text(week, rows)


def weekly_text(week: IsoWeek, rows: list[WardWeekly]) -> list[str]:
    if not rows:
        return [_("Weekly counts: no valid ward plans a programme yet.")]
    body = []
    for row in rows:
        this = str(row.this_week.planned) if row.this_week else "-"
        lowest = f"{row.lowest.planned} ({row.lowest.week})" if row.lowest else "-"
        body.append((row.ward, row.programme, row.minimum, this, lowest, _(row.verdict)))
    headers = (
        _("ward"),
        _("programme"),
        _("minimum"),
        _("this week ({week})").format(week=week),
        _("lowest week"),
        _("verdict"),
    )
    return [
        _(
            "Airings a week each ward plans (valid wards; the lowest week is the campaign's "
            "full week with the fewest):"
        ),
        *("  " + line for line in table(headers, body)),
    ]


def verdict_line(loaded: LoadedConfig) -> str:
    if loaded.ok:
        wards = len(loaded.ward_files)
        programmes = len(loaded.station.programmes) if loaded.station else 0
        return _("OK: the configuration is valid ({wards}, {programmes}).").format(
            wards=ngettext("{n} ward", "{n} wards", wards).format(n=wards),
            programmes=ngettext("{n} programme", "{n} programmes", programmes).format(n=programmes),
        )
    count = len(loaded.problems)
    files = len(files_with_problems(loaded.problems))
    return _(
        "NOT VALID: {problems} in {files}; nothing may be started until they are fixed."
    ).format(
        problems=ngettext("{n} problem", "{n} problems", count).format(n=count),
        files=ngettext("{n} file", "{n} files", files).format(n=files),
    )


def validate_json(
    loaded: LoadedConfig,
    station_path: Path,
    week: IsoWeek | None,
    rows: list[WardWeekly],
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    return {
        "ok": loaded.ok,
        "station_file": str(station_path),
        "week": str(week) if week else None,
        "problems": [problem_json(p) for p in loaded.problems],
        "warnings": list(warnings),
        # false when the wards could not be checked against the station (its time zone or a
        # programme unreadable): a ward file's "valid" then means only "no problem in itself"
        "wards_checked": week is not None and not unread_programmes(loaded),
        "read_as": [problem_json(n) for n in loaded.notes],
        "ward_files": [
            {"file": name, "ward": w.ward_id, "valid": w.valid, "sha256": w.sha256}
            for name, w in sorted(loaded.ward_files.items())
        ],
        "weekly": [
            {
                "ward": r.ward,
                "programme": r.programme,
                "minimum": r.minimum,
                "enabled_receivers": r.enabled_receivers,
                "this_week": count_json(r.this_week),
                "lowest": count_json(r.lowest),
                "verdict": r.verdict,
            }
            for r in rows
        ],
    }


def airing_json(a: PlannedAiring) -> dict[str, Any]:
    return {
        "day": a.local_day.isoformat(),
        "weekday": f"{a.local_start:%a}".lower(),
        "time": f"{a.local_start:%H:%M}",
        "ward": a.ward,
        "programme": a.programme,
        "window_end": f"{a.local_expires:%H:%M}",
        "volume": a.volume,
        "start": a.local_start.isoformat(),
        "expires": a.local_expires.isoformat(),
    }


def plan_airings_text(airings: list[PlannedAiring]) -> list[str]:
    if not airings:
        return ["  " + _("(no airings planned this week)")]
    rows = [
        (
            day_words(a.local_day),
            f"{a.local_start:%H:%M}",
            a.ward,
            a.programme,
            f"{a.local_expires:%H:%M}",
            a.volume,
        )
        for a in airings
    ]
    headers = (_("day"), _("time"), _("ward"), _("programme"), _("window ends"), _("volume"))
    return ["  " + line for line in table(headers, rows)]


def day_words(day: date) -> str:
    """``Mon 2026-11-23`` in English, ``Thứ Hai 23/11/2026`` in Vietnamese."""
    return f"{weekday_name(day, short=language() != 'vi')} {date_text(day)}"


def plan_compliance_text(counts: Sequence[tuple[WeekCount, str, str]]) -> list[str]:
    if not counts:
        return ["  " + _("(no programme with a minimum runs this week)")]
    rows = [(c.ward, c.programme, c.planned, c.minimum, _(v), _(why)) for c, v, why in counts]
    headers = (_("ward"), _("programme"), _("planned"), _("minimum"), _("verdict"), _("rule"))
    return ["  " + line for line in table(headers, rows)]
