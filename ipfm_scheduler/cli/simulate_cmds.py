"""``ipfm-scheduler simulate``: simulated receivers that answer the scheduler's commands."""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config import addresses, keyfiles
from ipfm_scheduler.config.settings import MqttSettings, SigningKey
from ipfm_scheduler.errors import ConfigError, ValueInvalid
from ipfm_scheduler.i18n import _, ngettext
from ipfm_scheduler.protocol import check_prefix, keyring
from ipfm_scheduler.simulator import Behaviour, HttpFetch, Simulator, TimeMode, parse_pairs

PASSWORD_ENV = "IPFM_MQTT_PASSWORD"
SIMULATOR_CLIENT_ID = "ipfm-simulator"
DEFAULT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_PREFIX = "ipfm"
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"


def mqtt_settings(
    url: str, prefix: str, username: str | None, ca_file: Path | None
) -> MqttSettings:
    """``mqtt://host[:1883]`` or ``mqtts://host[:8883]`` as settings (password from the env)."""
    try:
        address = addresses.broker_address(url)
    except addresses.Unusable as exc:
        raise click.BadParameter(str(exc), param_hint="--mqtt-url") from exc
    try:
        check_prefix(prefix)
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from exc
    return MqttSettings(
        url=url, topic_prefix=prefix, host=address.host, port=address.port, tls=address.tls,
        ca_file=ca_file, username=username or address.username,
        password=os.environ.get(PASSWORD_ENV), client_id=SIMULATOR_CLIENT_ID,
    )  # fmt: skip


class NumberRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf`` (which its bounds let pass)."""

    name = "number range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a number {self._wanted()}.", param, ctx)
        return number

    def _wanted(self) -> str:
        if self.min is not None and self.max is not None:
            return f"from {self.min:g} to {self.max:g}"
        if self.min is not None:
            return f"of at least {self.min:g}"
        return f"of at most {self.max:g}" if self.max is not None else "at all"


@dataclass(frozen=True, slots=True)
class FromStation:
    """What the simulator takes from the station file when no --receivers are given."""

    pairs: list[tuple[str, str]]
    settings: MqttSettings
    keys: dict[str, bytes]
    zone: ZoneInfo
    own_keys: dict[tuple[str, str], SigningKey]


def from_station(options: Options) -> FromStation:
    """Every enabled receiver of every valid ward, the station's broker, prefix, time zone and
    signing keys (so the simulated receivers check signatures as real ones would)."""
    from ipfm_scheduler.config.loader import load

    loaded = load(options.station_path(), today=date.today())
    station, schedule = loaded.station, loaded.schedule
    if station is None or schedule is None:
        raise ConfigError(loaded.problems)
    pairs = [(w.id, r.id) for w in schedule.wards.values() for r in w.enabled_receivers]
    signing = station.signing
    today = datetime.now(station.timezone).date()
    keys = keyring(signing.default, *signing.per_ward.values())
    for ward in {w for w, _r in pairs}:
        keys |= signing.command_keys(ward, today)
    # each receiver signs its answers with its own key, as ipfm-receiver does (version 2)
    own = {pair: key for pair in pairs if (key := signing.own_key(*pair)) is not None}
    settings = replace(station.mqtt, client_id=SIMULATOR_CLIENT_ID)
    return FromStation(pairs, settings, keys, station.timezone, own)


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    try:
        return [pair for value in values for pair in parse_pairs(value)]
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def _keys(key_file: Path | None, kid: str | None) -> dict[str, bytes]:
    if key_file is None:
        if kid:  # a key named but not given: the receivers would check no signature at all
            raise click.UsageError(_("--kid names a key of --key-file: give --key-file too"))
        return {}
    if not kid:
        raise click.UsageError(
            _("--key-file needs --kid (the key's name, as in the commands' sig)")
        )
    secret = key_file.read_bytes().strip()
    if not secret:
        raise click.BadParameter(
            _("{key_file} is empty").format(key_file=key_file), param_hint="--key-file"
        )
    return keyring(SigningKey(kid, secret))


def keys_in(
    folder: Path, pairs: list[tuple[str, str]], today: date
) -> tuple[dict[str, bytes], dict[tuple[str, str], SigningKey]]:
    """From a keys folder (``keys init``): the command keys accepted ``today``, and the own key
    of each of ``pairs`` that has one (its answers are signed, version 2)."""
    try:
        commands, receivers = keyfiles.read_keys_dir(folder)
    except addresses.Unusable as exc:
        raise click.BadParameter(str(exc), param_hint="--keys-dir") from exc
    own = {p: k.current for p in pairs if (k := receivers.get(p)) and k.current is not None}
    return (commands.accepted(today) if commands else {}), own


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(
            _("{name} is not an IANA time zone").format(name=repr(name)), param_hint="--timezone"
        ) from exc


@cli.command("simulate")
@click.option(
    "--receivers",
    "receivers",
    multiple=True,
    metavar="WARD/RECEIVER,...",
    help="The receivers to play (comma-separated; the option may repeat). Default: every "
    "enabled receiver of the station file's valid wards, with its broker and keys.",
)
@click.option(
    "--offline",
    multiple=True,
    metavar="WARD/RECEIVER,...",
    help="Receivers that never connect and never answer.",
)
@click.option(
    "--leave",
    multiple=True,
    metavar="WARD/RECEIVER,...",
    help="Receivers left to real boxes (ipfm-receiver): the simulator does not play them.",
)
@click.option(
    "--fail-rate",
    type=NumberRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of plays that fail (ack `failed`, detail `device`).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the failures: the same seed fails the same commands.",
)
@click.option(
    "--time-mode",
    type=click.Choice([m.value for m in TimeMode]),
    default="realtime",
    show_default=True,
    help=(
        "realtime: start at start_at, play for the duration; instant: complete at once (for "
        "tests: the service counts no `completed` sooner than the recording lasts)."
    ),
)
@click.option(
    "--download/--no-download",
    default=False,
    show_default=True,
    help="Download each programme (once per sha256) and check its checksum.",
)
@click.option(
    "--mqtt-url",
    default=None,
    help="The broker. Default: the station file's mqtt.url (mqtt://127.0.0.1:1883 with "
    "--receivers).",
)
@click.option(
    "--prefix",
    default=None,
    help="The topic prefix. Default: the station file's (ipfm with --receivers).",
)
@click.option(
    "--username", default=None, help=f"Broker user; the password comes from ${PASSWORD_ENV}."
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CA certificate of an mqtts:// broker.",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Shared signing secret: commands must carry a valid sig.",
)
@click.option("--kid", default=None, help="The name (kid) of the key in --key-file.")
@click.option(
    "--keys-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="With --receivers: a keys folder (keys init) whose command key the receivers check and "
    "whose receiver keys sign their answers. Without --receivers the station's is used.",
)
@click.option(
    "--connect-timeout",
    type=NumberRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the broker at start.",
)
@click.option(
    "--timezone",
    "zone",
    default=None,
    help="The zone of the times in acks. Default: the station's (Asia/Ho_Chi_Minh with "
    "--receivers).",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Log only warnings and errors, not a line per command and answer (for thousands of "
    "receivers).",
)
@click.pass_obj
def simulate(  # noqa: PLR0917
    options: Options, receivers: tuple[str, ...], offline: tuple[str, ...],
    leave: tuple[str, ...], fail_rate: float,
    seed: int, time_mode: str, download: bool, mqtt_url: str | None, prefix: str | None,
    username: str | None, ca_file: Path | None, key_file: Path | None, kid: str | None,
    keys_dir: Path | None, connect_timeout: float, zone: str | None, quiet: bool,
) -> None:  # fmt: skip
    """Play receivers against the broker until Ctrl-C (or SIGTERM).

    Without --receivers, plays every enabled receiver of the configuration (--config,
    $IPFM_CONFIG, config/ipfm.yaml) on its broker, with its signing keys. Each receiver says it
    is online (retained status), answers every command on its cmd topic as docs/protocol.md
    asks (received, playing, completed; rejected, failed), and says it is offline when stopped.
    One line is logged per command handled.
    """
    keys = _keys(key_file, kid)
    own_keys: dict[tuple[str, str], SigningKey] = {}
    if receivers:
        pairs = _pairs(receivers, "--receivers")
        settings = mqtt_settings(
            mqtt_url or DEFAULT_URL, prefix or DEFAULT_PREFIX, username, ca_file
        )
        tz = _zone(zone or DEFAULT_ZONE)
        if keys_dir is not None:
            checked, own_keys = keys_in(keys_dir, pairs, datetime.now(tz).date())
            keys = {**checked, **keys}
    else:
        station = from_station(options)
        pairs, tz, keys = station.pairs, station.zone, {**station.keys, **keys}
        settings, own_keys = station.settings, station.own_keys
        if mqtt_url or prefix or username or ca_file:
            settings = mqtt_settings(
                mqtt_url or settings.url, prefix or settings.topic_prefix,
                username or settings.username, ca_file or settings.ca_file,
            )  # fmt: skip
        if zone:
            tz = _zone(zone)
    left = set(_pairs(leave, "--leave"))
    pairs = [pair for pair in pairs if pair not in left]
    if not pairs:
        raise click.UsageError(_("no receivers: give --receivers WARD/RECEIVER,..."))
    behaviour = Behaviour(
        keys=keys, own_keys=own_keys, fail_rate=fail_rate, seed=seed, mode=TimeMode(time_mode),
        tz=tz, fetch=HttpFetch() if download else None,
    )  # fmt: skip
    for name in ("ipfm_scheduler.simulator", "ipfm_scheduler.transport"):
        logger = logging.getLogger(name)
        wanted = logging.WARNING if quiet else logging.INFO
        logger.setLevel(min(logger.getEffectiveLevel(), wanted))
    silent = _pairs(offline, "--offline")
    unknown = [f"{w}/{r}" for w, r in silent if (w, r) not in set(pairs)]
    if unknown:
        raise click.BadParameter(
            _(
                "{receivers} is not one of the receivers played (give WARD/RECEIVER of an enabled "
                "receiver of the configuration, or of --receivers)"
            ).format(receivers=", ".join(unknown)),
            param_hint="--offline",
        )
    simulator = Simulator(settings, pairs, behaviour, offline=silent)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # only a flag: the main thread does the stopping

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    simulator.start(connect_timeout)
    count = len(simulator.receivers)
    click.echo(
        ngettext(
            "simulating {count} receiver ({offline} offline) on {host}:{port} under {prefix}/ "
            "(Ctrl-C stops)",
            "simulating {count} receivers ({offline} offline) on {host}:{port} under {prefix}/ "
            "(Ctrl-C stops)",
            count,
        ).format(
            count=count,
            offline=len(simulator.offline),
            host=settings.host,
            port=settings.port,
            prefix=settings.topic_prefix,
        )
    )
    while not stop.wait(3600):
        pass
    said = simulator.stop()
    told = (
        _("the receivers said offline")
        if said
        else _(
            "the broker was unreachable, so the receivers could not say offline (the broker "
            "may still show them online)"
        )
    )
    handled = simulator.handled_count
    click.echo(
        ngettext(
            "stopped after {count} command; {told}",
            "stopped after {count} commands; {told}",
            handled,
        ).format(count=handled, told=told)
    )
