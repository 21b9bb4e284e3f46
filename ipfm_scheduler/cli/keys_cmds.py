"""``ipfm-scheduler keys init`` and ``keys rotate``: the keys folder (``signing.keys_dir``) of
the station: a command key, and a key of its own for every receiver (docs/configuration.md
"Keys"). Secrets are written only to their files (0600), never printed or logged."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config import keyfiles
from ipfm_scheduler.config.addresses import Unusable
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.local_forms import NoSuchDay, day_month_year
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.errors import ConfigError, ConfigProblem
from ipfm_scheduler.i18n import _, date_text, ngettext


@cli.group("keys")
def keys() -> None:
    """The station's signing keys (docs/configuration.md "Keys")."""


def _station(opts: Options) -> tuple[LoadedConfig, Path]:
    loaded = load(opts.station_path(), today=date.today(), secrets=False)
    station = loaded.station
    if station is None or loaded.schedule is None:
        raise ConfigError(loaded.problems)
    folder = station.signing.keys_dir
    assert folder is not None  # the station reader always sets it
    return loaded, folder


@keys.command("init")
@click.pass_obj
def keys_init(opts: Options) -> None:
    """Make the keys that are missing in the keys folder: the station's command key, and one key
    per receiver of the valid ward files (256 random bits each, files 0600). Safe to run again:
    a key that exists is kept. Prints one line per key made."""
    loaded, folder = _station(opts)
    assert loaded.schedule is not None
    pairs = [(w.id, r.id) for w in loaded.schedule.wards.values() for r in w.receivers]
    made = keyfiles.init_keys(folder, pairs, datetime.now(UTC))
    for key in made:
        what = (
            _("the command key")
            if key.owner == keyfiles.COMMANDS
            else _("{owner}'s own key").format(owner=key.owner)
        )
        click.echo(
            _("made {path} ({what}, kid {kid})").format(path=key.path, what=what, kid=key.kid)
        )
    skipped = len(loaded.ward_files) - len(loaded.schedule.wards)
    if skipped:
        click.echo(
            ngettext(
                "note: {count} ward file with problems skipped (see validate)",
                "note: {count} ward files with problems skipped (see validate)",
                skipped,
            ).format(count=skipped),
            err=True,
        )
    if not made:
        click.echo(_("every key is already in {folder}: nothing made").format(folder=folder))


@keys.command("rotate")
@click.argument("owners", nargs=-1, required=True, metavar="commands|WARD/RECEIVER...")
@click.option(
    "--keep-old-until",
    "until",
    required=True,
    metavar="DATE",
    help="The last day the old key is still accepted (dd/mm/yyyy or YYYY-MM-DD).",
)
@click.pass_obj
def keys_rotate(opts: Options, owners: tuple[str, ...], until: str) -> None:
    """Give the command key (``commands``) or a receiver's key (``WARD/RECEIVER``) a new key: the
    new one signs from now on; the old one is still accepted until the end of --keep-old-until
    (the station's date), then never again. Run receiver-config again for the boxes concerned,
    and reload the service (SIGHUP)."""
    last = _date(until)
    if last < date.today():
        raise click.BadParameter(
            _("{date} is in the past").format(date=until), param_hint="--keep-old-until"
        )
    _loaded, folder = _station(opts)
    for owner in owners:
        where = _folder(folder, owner)
        try:
            new, retired = keyfiles.rotate(where, last, datetime.now(UTC))
        except Unusable as exc:
            raise ConfigError([ConfigProblem(str(where), 0, 0, "", str(exc))]) from exc
        click.echo(
            _("made {path} ({owner}, kid {kid}): it signs from now on").format(
                path=new.path, owner=owner, kid=new.kid
            )
        )
        for old in retired:
            click.echo(
                _("kept {kid} ({owner}): accepted until {date}").format(
                    kid=old.kid, owner=owner, date=date_text(last)
                )
            )


def _folder(folder: Path, owner: str) -> Path:
    if owner == keyfiles.COMMANDS:
        return keyfiles.commands_folder(folder)
    ward, sep, receiver = owner.partition("/")
    if not sep or not ward or not receiver or "/" in receiver:
        raise click.BadParameter(
            _("{owner} is neither commands nor WARD/RECEIVER").format(owner=repr(owner)),
            param_hint="commands|WARD/RECEIVER",
        )
    return keyfiles.receiver_folder(folder, ward, receiver)


def _date(text: str) -> date:
    try:
        found = day_month_year(text)
        return found if found is not None else date.fromisoformat(text.strip())
    except (NoSuchDay, ValueError) as exc:
        raise click.BadParameter(
            _("{text} is not a date (dd/mm/yyyy or YYYY-MM-DD): {error}").format(
                text=repr(text), error=exc
            ),
            param_hint="--keep-old-until",
        ) from exc
