"""``ipfm-scheduler simulate``: simulated receivers that answer the scheduler's commands."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ipfm_scheduler.cli import cli
from ipfm_scheduler.config.settings import MqttSettings, SigningKey
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.protocol import check_prefix, keyring
from ipfm_scheduler.simulator import Behaviour, HttpFetch, Simulator, TimeMode, parse_pairs

PASSWORD_ENV = "IPFM_MQTT_PASSWORD"


def mqtt_settings(
    url: str, prefix: str, username: str | None, ca_file: Path | None
) -> MqttSettings:
    """``mqtt://host[:1883]`` or ``mqtts://host[:8883]`` as settings (password from the env)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise click.BadParameter(
            f"{url!r} is not a broker address (mqtt://HOST:1883 or mqtts://HOST:8883)",
            param_hint="--mqtt-url",
        )
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="--mqtt-url") from exc
    try:
        check_prefix(prefix)
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from exc
    return MqttSettings(
        url=url, topic_prefix=prefix, host=parts.hostname, port=port, tls=tls, ca_file=ca_file,
        username=username or parts.username, password=os.environ.get(PASSWORD_ENV),
        client_id="ipfm-simulator",
    )  # fmt: skip


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    try:
        return [pair for value in values for pair in parse_pairs(value)]
    except ValueInvalid as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def _keys(key_file: Path | None, kid: str | None) -> dict[str, bytes]:
    if key_file is None:
        return {}
    if not kid:
        raise click.UsageError("--key-file needs --kid (the key's name, as in the commands' sig)")
    secret = key_file.read_bytes().strip()
    if not secret:
        raise click.BadParameter(f"{key_file} is empty", param_hint="--key-file")
    return keyring(SigningKey(kid, secret))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(
            f"{name!r} is not an IANA time zone", param_hint="--timezone"
        ) from exc


@cli.command("simulate")
@click.option(
    "--receivers",
    "receivers",
    multiple=True,
    metavar="WARD/RECEIVER,...",
    help="The receivers to play (comma-separated; the option may repeat).",
)
@click.option(
    "--offline",
    multiple=True,
    metavar="WARD/RECEIVER,...",
    help="Receivers that never connect and never answer.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
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
    help="realtime: start at start_at, play for the duration; instant: at once.",
)
@click.option(
    "--download/--no-download",
    default=False,
    show_default=True,
    help="Download each programme (once per sha256) and check its checksum.",
)
@click.option("--mqtt-url", default="mqtt://127.0.0.1:1883", show_default=True)
@click.option("--prefix", default="ipfm", show_default=True, help="The topic prefix.")
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
    "--connect-timeout",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the broker at start.",
)
@click.option(
    "--timezone",
    "zone",
    default="Asia/Ho_Chi_Minh",
    show_default=True,
    help="The zone of the times in acks.",
)
def simulate(  # noqa: PLR0917
    receivers: tuple[str, ...], offline: tuple[str, ...], fail_rate: float, seed: int,
    time_mode: str, download: bool, mqtt_url: str, prefix: str, username: str | None,
    ca_file: Path | None, key_file: Path | None, kid: str | None, connect_timeout: float,
    zone: str,
) -> None:  # fmt: skip
    """Play the given receivers against the broker until Ctrl-C (or SIGTERM).

    Each receiver says it is online (retained status), answers every command on its cmd topic
    as receiver-protocol.md asks (received, playing, completed; rejected, failed), and says it
    is offline when stopped. One line is logged per command handled.
    """
    pairs = _pairs(receivers, "--receivers")
    if not pairs:
        raise click.UsageError("no receivers: give --receivers WARD/RECEIVER,...")
    behaviour = Behaviour(
        keys=_keys(key_file, kid), fail_rate=fail_rate, seed=seed, mode=TimeMode(time_mode),
        tz=_zone(zone), fetch=HttpFetch() if download else None,
    )  # fmt: skip
    settings = mqtt_settings(mqtt_url, prefix, username, ca_file)
    for name in ("ipfm_scheduler.simulator", "ipfm_scheduler.transport"):
        logger = logging.getLogger(name)
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    simulator = Simulator(settings, pairs, behaviour, offline=_pairs(offline, "--offline"))
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # only a flag: the main thread does the stopping

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    simulator.start(connect_timeout)
    count = len(simulator.receivers)
    click.echo(
        f"simulating {count} receiver{'' if count == 1 else 's'} "
        f"({len(simulator.offline)} offline) on {settings.host}:{settings.port} "
        f"under {prefix}/ (Ctrl-C stops)"
    )
    while not stop.wait(3600):
        pass
    simulator.stop()
    click.echo(f"stopped after {simulator.handled_count} commands; the receivers said offline")
