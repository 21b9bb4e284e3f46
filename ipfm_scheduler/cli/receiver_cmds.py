"""``ipfm-scheduler receiver-config``: a loudspeaker box's ``receiver.yaml`` (and its signing
key) from the station and ward files, ready to copy onto the box (docs/receiver.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

import click

from ipfm_scheduler.cli.broker_login import (
    BrokerLogin,
    advise_login,
    broker_login,
    mqtt_login_lines,
    write_login,
)
from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.reader import suggestion
from ipfm_scheduler.config.settings import ReceiverSettings, SigningKey, StationConfig
from ipfm_scheduler.core.model import Ward
from ipfm_scheduler.errors import ConfigRejected
from ipfm_scheduler.i18n import _

ON_THE_BOX = Path("/etc/ipfm-receiver")
OWN_PREFIX = "own-"  # the box's own key file: own-KID.key (a command key is KID.key)
LOOPBACK = ("127.", "localhost", "[::1]")


@cli.command("receiver-config")
@click.option("--ward", required=True, help="The ward's id (its file in the wards folder).")
@click.option("--receiver", required=True, help="The receiver's id in that ward file.")
@click.option(
    "--broker",
    multiple=True,
    help="The broker's address as the box reaches it (default: the station's mqtt.url); give "
    "it again for each node of a cluster or of a bridged pair, in the order the box tries them.",
)
@click.option(
    "--output",
    "sound",
    default="alsa:default",
    show_default=True,
    help="Where the sound goes: alsa:DEVICE, pulse[:SINK] or file:FOLDER.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/lib/ipfm-receiver"),
    show_default=True,
    help="Where the box keeps what it has done.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/cache/ipfm-receiver"),
    show_default=True,
    help="Where the box keeps downloaded programmes.",
)
@click.option(
    "--broker-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The folder ipfm-scheduler broker-config wrote: the box's broker user (WARD.RECEIVER) "
    "and its password (written beside the file as broker.password, 0600).",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The CA certificate that signed the broker's (mqtts), copied beside the file as ca.crt "
    "(default: the station's mqtt.ca_file, for an mqtts broker).",
)
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the file here (and the key, password and CA files beside it); default: print it.",
)
@click.pass_obj
def receiver_config(
    opts: Options,
    *,
    ward: str,
    receiver: str,
    broker: tuple[str, ...],
    sound: str,
    state_dir: Path,
    cache_dir: Path,
    broker_dir: Path | None,
    ca_file: Path | None,
    out: Path | None,
) -> None:
    """Write the receiver.yaml of one loudspeaker box: its ward and receiver ids, the broker
    and topic prefix (with --broker-dir, its broker user and password; with --ca-file, the
    broker's CA), the key its commands are signed with (the key and password files go beside
    it, 0600), where the sound goes, and its cache and state folders. Copy the files to the
    box's /etc/ipfm-receiver/ and start the ipfm-receiver service there."""
    loaded = load(opts.station_path(), today=date.today())
    station = loaded.station
    if station is None or loaded.schedule is None:
        raise ConfigRejected(loaded.problems, "the station file is not valid")
    box = _find(loaded.schedule.wards, ward, receiver)
    signing = station.signing
    key = signing.key_for(ward)
    retired = _retired(station, ward)
    own = signing.own_key(ward, receiver)
    folders = ReceiverSettings(
        Path(), ward, receiver, station.timezone, station.mqtt, state_dir=state_dir,
        cache_dir=cache_dir, own_key=own, retired=retired,
    )  # fmt: skip
    urls = broker or station.mqtt.urls or (station.mqtt.url,)
    url = urls[0]
    login = broker_login(broker_dir, ward, receiver, ca_file or _station_ca(station, url))
    text = render(station, box, folders, broker=urls, output=sound, key=key, login=login)
    if out is None:
        click.echo(text, nl=False)
    else:
        _write(
            out, text, [k for k in (key, *(old for old, _until in retired)) if k is not None], own
        )
        write_login(out, login)
    _advise(station, box, receiver, broker=broker[0] if broker else None, key=key, out=out)
    advise_login(login, url, out)
    if own is None:
        click.echo(
            _(
                "note: {ward}/{receiver} has no key of its own (run ipfm-scheduler keys init): "
                "its answers will be unsigned (protocol version 1)"
            ).format(ward=ward, receiver=receiver),
            err=True,
        )


def _retired(station: StationConfig, ward: str) -> tuple[tuple[SigningKey, date], ...]:
    """The command keys a box of ``ward`` still accepts after a rotation, with their last day."""
    signing = station.signing
    if signing.per_ward.get(ward, signing.default) is not None or signing.commands is None:
        return ()
    today = datetime.now(station.timezone).date()
    return tuple((key, until) for key, until in signing.commands.retired if until >= today)


def render(
    station: StationConfig,
    ward: Ward,
    box: ReceiverSettings,
    *,
    broker: str | tuple[str, ...],
    output: str,
    key: SigningKey | None,
    login: BrokerLogin | None = None,
) -> str:
    """The receiver.yaml text of ``box`` (its ids, folders, clock bound; docs/receiver.md)."""
    receiver = box.receiver
    lines = [
        f"# receiver.yaml of {ward.id}/{receiver} ({ward.name}), written by ipfm-scheduler",
        "# receiver-config; copy it to the box as /etc/ipfm-receiver/receiver.yaml",
        f"ward: {ward.id}",
        f"receiver: {receiver}",
        f"timezone: {station.timezone.key}",
        "mqtt:",
        *_url_lines((broker,) if isinstance(broker, str) else broker),
        f"  topic_prefix: {station.mqtt.topic_prefix}",
        *mqtt_login_lines(login),
        f"output: {output}",
        "cache:",
        f"  dir: {box.cache_dir}",
        f"  max_mb: {box.cache_max_bytes // 2**20}",
        f"state_dir: {box.state_dir}",
        f"max_clock_offset_s: {box.max_clock_offset_s:g}",
    ]
    keys = []
    if key is not None:
        keys = ["signing:", f"  kid: {key.kid}", f"  key_file: {key.kid}.key"]
        if box.retired:
            keys.append("  retired:                       # accepted until the end of the date")
            keys += [
                f"    - {{kid: {old.kid}, key_file: {old.kid}.key, until: {until.isoformat()}}}"
                for old, until in box.retired
            ]
    if box.own_key is not None:
        keys += [
            "own_key:                         # signs the box's answers (protocol version 2)",
            f"  kid: {box.own_key.kid}",
            f"  key_file: {OWN_PREFIX}{box.own_key.kid}.key",
        ]
    at = lines.index(f"output: {output}")
    lines[at:at] = keys
    return "\n".join(lines) + "\n"


def _url_lines(urls: tuple[str, ...]) -> list[str]:
    """``url:`` of one broker, or the list of several (tried in order)."""
    if len(urls) == 1:
        return [f"  url: {urls[0]}"]
    return ["  url:                           # tried in order", *(f"    - {u}" for u in urls)]


def _station_ca(station: StationConfig, url: str) -> Path | None:
    return station.mqtt.ca_file if url.startswith("mqtts://") else None


def _find(wards: Mapping[str, Ward], ward_id: str, receiver_id: str) -> Ward:
    ward = wards.get(ward_id)
    if ward is None:
        known = sorted(wards)
        raise click.BadParameter(
            _("there is no valid ward {ward}{hint} (run ipfm-scheduler validate)").format(
                ward=repr(ward_id), hint=suggestion(ward_id, known)
            ),
            param_hint="--ward",
        )
    if ward.receiver(receiver_id) is None:
        boxes = ", ".join(r.id for r in ward.receivers) or _("none")
        raise click.BadParameter(
            _("ward {ward} has no receiver {receiver} (it has: {boxes})").format(
                ward=ward_id, receiver=repr(receiver_id), boxes=boxes
            ),
            param_hint="--receiver",
        )
    return ward


def _write(out: Path, text: str, keys: list[SigningKey], own: SigningKey | None) -> None:
    """The receiver file and, beside it, its key files (0600): the command keys, and the box's
    own key (``own-KID.key``)."""
    files = [(out.with_name(f"{key.kid}.key"), key) for key in keys]
    if own is not None:
        files.append((out.with_name(f"{OWN_PREFIX}{own.kid}.key"), own))
    try:
        out.write_text(text, encoding="utf-8")
        for path, key in files:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.secret + b"\n")
            os.chmod(path, 0o600)
    except OSError as exc:
        raise click.ClickException(
            _("can't write {filename}: {strerror}").format(
                filename=exc.filename, strerror=exc.strerror
            )
        ) from exc
    if not files:
        click.echo(_("wrote {file}").format(file=out), err=True)
    else:
        names = ", ".join(str(path) for path, _key in files)
        click.echo(_("wrote {file} and {keys} (0600)").format(file=out, keys=names), err=True)


def _advise(
    station: StationConfig,
    ward: Ward,
    receiver: str,
    *,
    broker: str | None,
    key: SigningKey | None,
    out: Path | None,
) -> None:
    box = ward.receiver(receiver)
    if box is not None and not box.enabled:
        click.echo(
            _("note: {ward}/{receiver} is disabled in the ward file: it gets no command").format(
                ward=ward.id, receiver=receiver
            ),
            err=True,
        )
    if broker is None and any(part in station.mqtt.url for part in LOOPBACK):
        click.echo(
            _(
                "note: the station's broker is {url}, which a box can't reach: give --broker "
                "mqtt://ADDRESS:1883 as the box sees it"
            ).format(url=station.mqtt.url),
            err=True,
        )
    if key is None:
        click.echo(_("note: the station signs no command: the box will check none"), err=True)
    elif out is None:
        click.echo(
            _("note: the box also needs its key file ({kid}.key): use -o FILE").format(kid=key.kid),
            err=True,
        )
