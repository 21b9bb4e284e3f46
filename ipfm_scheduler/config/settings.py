"""The validated station configuration (``config/ipfm.yaml``) as values.

The loader (:mod:`ipfm_scheduler.config.loader`) builds these from YAML; everything else reads
them. Secrets (MQTT password, signing keys) are resolved from the files or environment variables
the technician names, never stored in a ward file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

from ipfm_scheduler.audio.files import AudioFile, AudioSettings
from ipfm_scheduler.core.model import Programme, Schedule
from ipfm_scheduler.errors import ConfigProblem

# AudioFile and AudioSettings are defined beside the audio code that makes and reads the files;
# they are among the station's values all the same
__all__ = [
    "AudioFile",
    "AudioSettings",
    "DeclaredProgramme",
    "DispatchSettings",
    "HaSettings",
    "HttpSettings",
    "KeySet",
    "LoadedConfig",
    "MqttSettings",
    "SigningKey",
    "SigningSettings",
    "StationConfig",
    "WardFile",
]


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker. ``url`` is ``mqtt://host[:1883]`` or ``mqtts://host[:8883]``
    (the first of the list when ``mqtt.url`` lists several)."""

    url: str = "mqtt://127.0.0.1:1883"
    topic_prefix: str = "ipfm"
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = "ipfm-scheduler"
    keepalive_s: int = 30
    #: the brokers after the first (``host``, ``port``), when ``mqtt.url`` is a list: the
    #: transport moves to the next one when its broker can't be reached or goes away
    fallbacks: tuple[tuple[str, int], ...] = ()
    #: every URL of ``mqtt.url`` as written (``url`` is the first)
    urls: tuple[str, ...] = ()

    @property
    def nodes(self) -> tuple[tuple[str, int], ...]:
        """Every broker, in the order they are tried: (``host``, ``port``)."""
        return ((self.host, self.port), *self.fallbacks)

    @property
    def shown(self) -> str:
        """The broker URL(s), for logs and status: ``mqtt://a:1883, mqtt://b:1883``."""
        return ", ".join(self.urls) if self.urls else self.url


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The service's small HTTP server (audio, /healthz, /metrics, the web pages)."""

    host: str = "127.0.0.1"
    port: int = 8079
    enabled: bool = True
    #: the password file (``ipfm-scheduler http-user add``): with it, the pages and /metrics
    #: answer on every address with HTTP Basic auth; without it, on the loopback address only
    users: Path | None = None
    #: who runs the station, at the top of every page and of the printed report
    title: str = ""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeySet:
    """One owner's keys (the station's command keys, or one receiver's own): ``current`` signs;
    each ``retired`` key is still accepted until the end of its date (a rotation), then never."""

    current: SigningKey | None
    retired: tuple[tuple[SigningKey, date], ...] = ()

    def accepted(self, day: date) -> dict[str, bytes]:
        """``kid`` -> secret of every key accepted on ``day`` (the station's local date)."""
        keys = {key.kid: key.secret for key, until in self.retired if day <= until}
        if self.current is not None:
            keys[self.current.kid] = self.current.secret
        return keys


@dataclass(frozen=True, slots=True)
class SigningSettings:
    """HMAC-SHA256 keys (docs/protocol.md "Signatures", "Version 2").

    ``default`` signs every ward's commands unless ``per_ward`` names another key for it; with
    neither, the current key of ``commands`` (the keys folder's command key) signs them.
    ``receivers``: each receiver's own keys, (ward, receiver) -> its key set, from ``keys_dir``.
    """

    default: SigningKey | None = None
    per_ward: Mapping[str, SigningKey] = field(default_factory=dict)
    keys_dir: Path | None = None
    commands: KeySet | None = None
    receivers: Mapping[tuple[str, str], KeySet] = field(default_factory=dict, repr=False)

    def key_for(self, ward: str) -> SigningKey | None:
        key = self.per_ward.get(ward, self.default)
        if key is None and self.commands is not None:
            return self.commands.current
        return key

    def command_keys(self, ward: str, day: date) -> dict[str, bytes]:
        """What a receiver of ``ward`` accepts commands signed with on ``day``."""
        key = self.per_ward.get(ward, self.default)
        if key is not None:
            return {key.kid: key.secret}
        return self.commands.accepted(day) if self.commands is not None else {}

    def answer_keys(self, ward: str, receiver: str, day: date) -> dict[str, bytes]:
        """The receiver's own keys accepted on ``day`` (empty: it has none)."""
        keys = self.receivers.get((ward, receiver))
        return keys.accepted(day) if keys is not None else {}

    def own_key(self, ward: str, receiver: str) -> SigningKey | None:
        """The key the receiver signs its answers with now (its current one)."""
        keys = self.receivers.get((ward, receiver))
        return keys.current if keys is not None else None


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """Timing of the service (seconds)."""

    lead_s: int = 120  # commands go out this long before start_at
    resend_after_s: int = 30  # a command with no answer is resent after this long
    misfire_grace_s: int = 300  # APScheduler: how late a timed job may still run


@dataclass(frozen=True, slots=True)
class HaSettings:
    """Two or more services on one PostgreSQL database (docs/service.md): a standby takes over
    at most ``takeover_s`` seconds after the leader died, hung or lost the database."""

    takeover_s: float = 15.0


@dataclass(frozen=True, slots=True)
class DeclaredProgramme:
    """A programme as the station file names it, read even when it has problems: its title
    and the ``audio:`` file it names ("" where the file does not say it readably)."""

    title: str = ""
    audio: str = ""


@dataclass(frozen=True, slots=True)
class WardFile:
    """One ward file as read from disk (kept verbatim for the airing log's config snapshots)."""

    path: Path
    ward_id: str | None
    text: str
    sha256: str
    valid: bool


@dataclass(frozen=True, slots=True)
class StationConfig:
    """``config/ipfm.yaml``, validated."""

    path: Path
    timezone: ZoneInfo
    database_url: str
    mqtt: MqttSettings
    audio: AudioSettings
    http: HttpSettings
    signing: SigningSettings
    dispatch: DispatchSettings
    programmes: Mapping[str, Programme]
    programme_audio: Mapping[str, AudioFile]
    wards_dir: Path
    text: str = ""
    sha256: str = ""
    # False when loaded without secrets (`plan`): mqtt.password and signing are then empty
    secrets_loaded: bool = True
    ha: HaSettings = field(default_factory=HaSettings)


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """``receiver.yaml``, validated: one loudspeaker box (docs/receiver.md)."""

    path: Path
    ward: str
    receiver: str
    timezone: ZoneInfo
    mqtt: MqttSettings
    keys: Mapping[str, bytes] = field(default_factory=dict, repr=False)  # kid -> secret
    own_key: SigningKey | None = None  # signs the box's answers (protocol version 2)
    #: command keys still accepted after a rotation, each until the end of its date (in keys)
    retired: tuple[tuple[SigningKey, date], ...] = ()
    output: str = "alsa:default"
    cache_dir: Path = Path("/var/cache/ipfm-receiver")
    cache_max_bytes: int = 512 * 1024 * 1024
    state_dir: Path = Path("/var/lib/ipfm-receiver")
    max_clock_offset_s: float = 5.0
    fw: str = ""


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The outcome of loading a station: what is valid, and every problem found.

    ``schedule`` holds only the wards whose files are valid: a broken ward file never takes the
    others down. ``station`` is ``None`` when the station file itself is unusable.
    """

    station: StationConfig | None
    schedule: Schedule | None
    ward_files: Mapping[str, WardFile]  # keyed by file name (``cam-trung.yaml``)
    problems: tuple[ConfigProblem, ...]
    # Read even when other parts of the station file have problems (the audio commands need
    # no more): the audio section when it is valid, and every programme the station file
    # declares, by id; None when the programmes cannot be read.
    audio: AudioSettings | None = None
    declared: Mapping[str, DeclaredProgramme] | None = None
    #: values written in another accepted form and what they were read as (not problems):
    #: ``wards/cam-trung.yaml:15:12: airings[1].days[1]: "T2" read as mon``
    notes: tuple[ConfigProblem, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ward_files", MappingProxyType(dict(self.ward_files)))
        if self.declared is not None:
            object.__setattr__(self, "declared", MappingProxyType(dict(self.declared)))

    @property
    def ok(self) -> bool:
        return not self.problems and self.station is not None
