"""``ipfm-scheduler audio add|list|check``: the programme recordings and their catalogue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from ipfm_scheduler.audio.catalogue import (
    FILE_NAME,
    STORED_NAME,
    Catalogue,
    CatalogueEntry,
    CheckReport,
    FileCheck,
    FileState,
    check,
)
from ipfm_scheduler.audio.importer import duration_text, import_audio, size_text
from ipfm_scheduler.cli.audio_station import AudioStation, load_audio_station
from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config.reader import quote, suggestion
from ipfm_scheduler.core.ids import NAME_RULE, is_name
from ipfm_scheduler.errors import CheckFailed
from ipfm_scheduler.i18n import NP_, _, date_text, ngettext, pgettext

audio_dir_option = click.option(
    "--audio-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The audio directory. Default: audio.dir of the station file. Given, the command "
    "also works when the station file cannot be used.",
)


#: what `audio check` calls each state (the English is the state's own name)
STATE_WORDS = {
    FileState.OK: NP_("audio check", "ok"),
    FileState.MISSING: NP_("audio check", "missing"),
    FileState.CHANGED: NP_("audio check", "changed"),
    FileState.NOT_A_FILE: NP_("audio check", "not-a-file"),
}


def _warn(text: str) -> None:
    click.echo(_("ipfm-scheduler: warning: {text}").format(text=text), err=True)


@cli.group("audio")
def audio() -> None:
    """Programme recordings: import them normalised, list the catalogue, check the files."""


def _programme(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not is_name(value):
        raise click.BadParameter(
            _("{value} is not a programme id ({rule})").format(value=repr(value), rule=NAME_RULE)
        )
    return value


@audio.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--programme", "-p", required=True, callback=_programme, help="e.g. kh179")
@click.option(
    "--title",
    default=None,
    help="Default: the programme's title in the station file, else the file name.",
)
@click.option(
    "--new-programme",
    is_flag=True,
    help="The programme is not in the station file yet: import anyway (then declare it).",
)
@audio_dir_option
@click.pass_obj
def add(
    options: Options,
    *,
    file: Path,
    programme: str,
    title: str | None,
    new_programme: bool,
    audio_dir: Path | None,
) -> None:
    """Import FILE (WAV, MP3, M4A/AAC, OGG, FLAC) for a programme of the station file:
    convert it to the MP3 receivers play, normalise its loudness (EBU R128), store it under
    its sha256 and catalogue it. Prints what to put in the station file."""
    station = load_audio_station(options, audio_dir, warn=_warn)
    _check_declared(station, programme, new_programme)
    now = datetime.now(UTC).replace(microsecond=0)
    entry = import_audio(
        file,
        programme=programme,
        title=title or station.declared(programme).title or file.stem,
        settings=station.settings,
        max_duration_s=station.max_duration_s,
        now=now,
    )
    if entry.added_at != now:  # an earlier import of the same bytes
        click.echo(
            _("{name} is already in the catalogue for {programme} (added {added}): {file}").format(
                name=file.name, programme=programme, added=_when(entry.added_at), file=entry.file
            )
        )
    else:
        _describe_import(file, entry)
    for line in _station_lines(station, entry):
        click.echo(line)


def _check_declared(station: AudioStation, programme: str, new_programme: bool) -> None:
    """A programme id the station file does not declare is refused, unless it is new."""
    declared = station.programmes
    if declared is None or programme in declared or new_programme:
        return
    known = ", ".join(sorted(declared)) or _("none")
    raise click.BadParameter(
        _(
            "{programme} is not a programme of the station file {station}{hint}; its programmes: "
            "{known}. To import a recording for a programme you will add to it afterwards, add "
            "--new-programme"
        ).format(
            programme=quote(programme),
            station=station.station_path,
            hint=suggestion(programme, sorted(declared)),
            known=known,
        ),
        param_hint="'--programme'",
    )


def _station_lines(station: AudioStation, entry: CatalogueEntry) -> list[str]:
    """What to change in the station file so that the programme airs this recording."""
    programme, path = entry.programme, station.station_path
    where = _("the station file {path}").format(path=path) if path else _("the station file")
    lines: list[str] = []
    if station.declared(programme).audio == entry.file:
        lines.append(
            _("{where} already airs this recording for {programme}").format(
                where=where, programme=programme
            )
        )
    elif station.programmes is not None and programme not in station.programmes:
        lines += [
            _("in {where}, under programmes:, add").format(where=where),
            f"  {programme}:",
            f"    title: {quote(entry.title)}",
            f"    audio: {entry.file}",
        ]
    else:
        lines += [
            _("in {where}, under programmes: {programme}:, set").format(
                where=where, programme=programme
            ),
            f"  audio: {entry.file}",
        ]
    here, there = station.settings.dir, station.station_dir
    if there is not None and here.resolve() != there.resolve():
        lines.insert(
            0,
            _(
                "note: {here} is not the station's audio folder {there} (audio.dir): the station "
                "airs only what is imported there"
            ).format(here=here, there=there),
        )
    return lines


def _load_if_present(audio_dir: Path) -> Catalogue:
    return Catalogue.load(audio_dir) if audio_dir.is_dir() else Catalogue(audio_dir)


def _describe_import(file: Path, entry: CatalogueEntry) -> None:
    click.echo(
        _("added {name} for programme {programme} as {file}").format(
            name=file.name, programme=entry.programme, file=entry.file
        )
    )
    click.echo(
        _("  {seconds} s ({duration}), {size}, mp3 {kbps} kb/s mono {rate} Hz").format(
            seconds=f"{entry.duration_s:.1f}",
            duration=duration_text(entry.duration_s),
            size=size_text(entry.bytes),
            kbps=entry.bitrate_kbps,
            rate=entry.sample_rate,
        )
    )
    how = _("linearly (one gain)") if entry.normalisation == "linear" else _("dynamically")
    limited = (
        _(", peaks limited after +{gain} dB").format(gain=f"{entry.limiter_gain_db:.1f}")
        if entry.limiter_gain_db is not None
        else ""
    )
    click.echo(
        _(
            "  loudness {lufs} LUFS (target {target}), true peak {peak} dBTP (ceiling "
            "{ceiling}), normalised {how}{limited}"
        ).format(
            lufs=f"{entry.loudness_lufs:.1f}",
            target=f"{entry.target_lufs:.1f}",
            peak=f"{entry.true_peak_dbtp:.1f}",
            ceiling=f"{entry.target_true_peak_db:.1f}",
            how=how,
            limited=limited,
        )
    )


def _when(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{date_text(utc.date())} {utc:%H:%M} UTC"  # dd/mm/yyyy in Vietnamese


@audio.command("list")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@audio_dir_option
@click.pass_obj
def list_(options: Options, fmt: str, audio_dir: Path | None) -> None:
    """Show the catalogue: every imported recording, its programme and loudness."""
    station = load_audio_station(options, audio_dir, warn=_warn, windows=False)
    catalogue = _load_if_present(station.settings.dir)
    if fmt == "json":
        document = {
            "audio_dir": str(catalogue.dir),
            "entries": [e.to_json() for e in catalogue.entries],
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    if not catalogue.entries:
        lost = _catalogue_lost(catalogue.dir)
        click.echo(
            lost
            or _(
                "the catalogue in {dir} is empty; add a recording with "
                "`ipfm-scheduler audio add FILE --programme ID`"
            ).format(dir=catalogue.dir),
            err=bool(lost),
        )
        return
    for line in _table(catalogue.entries):
        click.echo(line)


def _table(entries: tuple[CatalogueEntry, ...]) -> list[str]:
    header = (
        _("PROGRAMME"),
        _("ADDED"),
        _("LENGTH"),
        _("LOUDNESS"),
        _("PEAK"),
        _("FILE"),
        _("TITLE"),
    )
    rows = [
        (
            e.programme,
            _when(e.added_at),
            duration_text(e.duration_s),
            f"{e.loudness_lufs:.1f} LUFS",
            f"{e.true_peak_dbtp:.1f} dBTP",
            e.file,
            e.title,
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in (header, *rows)
    ]


@audio.command("check")
@audio_dir_option
@click.pass_obj
def check_(options: Options, audio_dir: Path | None) -> None:
    """Re-hash every catalogued file; report missing or changed ones (exit 1 if any)."""
    station = load_audio_station(options, audio_dir, warn=_warn, windows=False)
    lost = _catalogue_lost(station.settings.dir)
    if lost:
        raise CheckFailed(lost)
    report = check(_load_if_present(station.settings.dir))
    for line in _check_lines(report, station.settings.dir):
        click.echo(line)
    if not report.ok:
        bad = len(report.files) - report.count(FileState.OK)
        raise CheckFailed(
            ngettext(
                "{bad} of {total} catalogued files in {dir} is missing or changed (listed "
                "above); receivers cannot play it",
                "{bad} of {total} catalogued files in {dir} are missing or changed (listed "
                "above); receivers cannot play them",
                bad,
            ).format(bad=bad, total=len(report.files), dir=station.settings.dir)
        )


def _catalogue_lost(audio_dir: Path) -> str:
    """Why an absent catalogue is not an empty one: recordings that `audio add` stored (named
    after their sha256) are in the folder. "" when there is a catalogue, or nothing it lost."""
    if (audio_dir / FILE_NAME).exists():
        return ""
    stored = sorted(p.name for p in audio_dir.glob("*.mp3") if STORED_NAME.fullmatch(p.name))
    if not stored:
        return ""
    return ngettext(
        "the catalogue {catalogue} is missing, while {count} recording that `ipfm-scheduler "
        "audio add` stored is in the folder: restore catalogue.json from a backup, or import "
        "the recordings again",
        "the catalogue {catalogue} is missing, while {count} recordings that `ipfm-scheduler "
        "audio add` stored are in the folder: restore catalogue.json from a backup, or import "
        "the recordings again",
        len(stored),
    ).format(catalogue=audio_dir / FILE_NAME, count=len(stored))


def _problem(item: FileCheck, audio_dir: Path) -> str:
    entry = item.entry
    if item.state is FileState.MISSING:
        return _("not in {dir}; import the recording again").format(dir=audio_dir)
    if item.state is FileState.NOT_A_FILE:
        return _("is a link or a directory, which the server will not serve; put the file itself")
    return _(
        "its content changed: sha256 is now {sha256}, {size} (catalogued: {catalogued}); "
        "receivers would reject it: import the recording again"
    ).format(
        sha256=item.found_sha256,
        size=size_text(item.found_bytes or 0),
        catalogued=size_text(entry.bytes),
    )


def _check_lines(report: CheckReport, audio_dir: Path) -> list[str]:
    lines = []
    for item in report.files:
        word = pgettext("audio check", STATE_WORDS[item.state]).upper()
        head = f"{word:10} {item.entry.programme}  {item.entry.file}"
        ok = item.state is FileState.OK
        lines.append(head if ok else f"{head}: {_problem(item, audio_dir)}")
    if report.unlisted:
        lines.append(
            _("not catalogued (not served to receivers): {files}").format(
                files=", ".join(report.unlisted)
            )
        )
    if report.leftovers:
        lines.append(
            _("left over from an interrupted import (safe to delete): {files}").format(
                files=", ".join(report.leftovers)
            )
        )
    counts = ", ".join(
        f"{report.count(s)} {pgettext('audio check', STATE_WORDS[s])}" for s in FileState
    )
    lines.append(
        ngettext(
            "{count} catalogued file checked in {dir}: {counts}",
            "{count} catalogued files checked in {dir}: {counts}",
            len(report.files),
        ).format(count=len(report.files), dir=audio_dir, counts=counts)
    )
    return lines
