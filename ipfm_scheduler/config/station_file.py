"""Reading the station file (``config/ipfm.yaml``) into settings values (its ``programmes``
section: :mod:`station_programmes`). Everything that can be read is kept (:class:`StationParts`),
so that ward files can still be checked against the time zone and the programmes when, say, the
MQTT section has a mistake.
Secrets are read only when asked for (``secrets=True``): `validate` and the service need them,
`plan` does not, so a missing key file does not stop a ward from seeing its plan.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from ipfm_scheduler.audio.probe import probe
from ipfm_scheduler.config import addresses as adr
from ipfm_scheduler.config.compound import Entry
from ipfm_scheduler.config.keyfiles import KeyCache, read_keys_dir
from ipfm_scheduler.config.nodes import Node
from ipfm_scheduler.config.reader import (
    INVALID,
    Fields,
    FileReader,
    Invalid,
    child,
    quote,
    read_shape,
    suggestion,
)
from ipfm_scheduler.config.settings import (
    AudioFile,
    AudioSettings,
    DeclaredProgramme,
    DispatchSettings,
    HttpSettings,
    MqttSettings,
    SigningKey,
    SigningSettings,
)
from ipfm_scheduler.config.station_programmes import Prober, read_programmes
from ipfm_scheduler.config.station_shape import STATION
from ipfm_scheduler.core.model import Programme
from ipfm_scheduler.i18n import N_, _

__all__ = [
    "Prober",
    "StationParts",
    "read_folder",
    "read_key",
    "read_mqtt",
    "read_station",
    "read_timezone",
    "section",
    "use_value",
]

T = TypeVar("T")
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass
class StationParts:
    """What could be read of the station file; ``None`` where a part is unusable."""

    base: Path
    secrets: bool
    environ: Mapping[str, str]
    prober: Prober = probe
    fields: Fields | None = None
    timezone: zoneinfo.ZoneInfo | None = None
    database_url: str | None = None
    mqtt: MqttSettings | None = None
    audio: AudioSettings | None = None
    http: HttpSettings | None = None
    signing: SigningSettings | None = None
    signing_wards: dict[str, Entry] = field(default_factory=dict)
    dispatch: DispatchSettings | None = None
    programmes: dict[str, Programme] = field(default_factory=dict)
    programme_audio: dict[str, AudioFile] = field(default_factory=dict)
    declared: frozenset[str] | None = None  # programme ids named, valid or not
    named: dict[str, DeclaredProgramme] = field(default_factory=dict)  # title, audio as written
    wards_dir: Path | None = None
    audio_dir: Path | None = None  # set when audio.dir names a folder, even if audio has problems
    keys_cache: KeyCache | None = None  # the service's, from one reload to the next


def read_station(
    r: FileReader,
    root: Node | None,
    base: Path,
    *,
    secrets: bool,
    environ: Mapping[str, str],
    prober: Prober = probe,
    keys_cache: KeyCache | None = None,
) -> StationParts:
    parts = StationParts(base, secrets, environ, prober, wards_dir=base / "wards")
    parts.keys_cache = keys_cache
    if root is None:
        r.problem(None, "", _("the station file is empty (see docs/configuration.md)"))
        return parts
    fields = read_shape(r, root, "", STATION)
    if not isinstance(fields, Fields):
        return parts
    parts.fields = fields
    parts.timezone = read_timezone(r, fields)
    parts.database_url = _database(r, fields, parts)
    parts.mqtt = read_mqtt(r, section(fields, "mqtt"), parts)
    parts.audio = _audio(r, section(fields, "audio"), parts)
    parts.http = _http(r, section(fields, "http"), parts.base)
    parts.signing = _signing(r, section(fields, "signing"), parts)
    parts.dispatch = _dispatch(section(fields, "dispatch"))
    _programmes(r, fields, parts)
    parts.wards_dir = read_folder(r, fields, "wards", base)
    return parts


Section = Fields | Invalid | None


def section(fields: Fields, name: str) -> Section:
    """A section's fields; ``None`` when it is absent, INVALID when unreadable."""
    value = fields[name]
    return value if isinstance(value, Fields) or value is None else INVALID


def use_value(r: FileReader, fields: Fields, name: str, convert: Callable[[Any], T]) -> T | None:
    """``convert(value)`` of a key read without problems; its :class:`Unusable` -> a problem."""
    value = fields[name]
    if value is None or value is INVALID:
        return None
    try:
        return convert(value)
    except adr.Unusable as exc:
        r.problem(fields.at(name), child(fields.path, name), str(exc))
        return None


def read_timezone(r: FileReader, fields: Fields) -> zoneinfo.ZoneInfo | None:
    name = fields["timezone"]
    if not isinstance(name, str):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = suggestion(name, sorted(zoneinfo.available_timezones()), cutoff=0.8)
        r.problem(
            fields.at("timezone"),
            "timezone",
            _(
                "{name} is not a known time zone{hint}: write an IANA name such as Asia/Ho_Chi_Minh"
            ).format(name=quote(name), hint=hint),
        )
        return None


def _database(r: FileReader, fields: Fields, parts: StationParts) -> str | None:
    from_env = parts.environ.get(adr.DATABASE_ENV, "").strip()
    if from_env:
        try:
            return adr.database_url(from_env, Path.cwd())
        except adr.Unusable as exc:
            r.problem(
                None,
                "database",
                _("the environment variable {name}: {why}").format(name=adr.DATABASE_ENV, why=exc),
            )
            return None
    if fields["database"] is None:
        if "database" in fields.key_nodes:  # written, but left empty
            r.problem(
                fields.at("database"),
                "database",
                _(
                    "is empty; write the airing log's database ({forms}), or set the environment "
                    "variable {name}"
                ).format(forms=_(adr.DATABASE_FORMS), name=adr.DATABASE_ENV),
            )
            return None
        r.problem(
            fields.node,
            "",
            _(
                'the key "database" is missing ({forms}); or set the environment variable {name}'
            ).format(forms=_(adr.DATABASE_FORMS), name=adr.DATABASE_ENV),
        )
        return None
    return use_value(r, fields, "database", lambda url: adr.database_url(url, parts.base))


def resolved(base: Path, text: str) -> Path:
    return (base / text).resolve()


def _existing_file(base: Path) -> Callable[[str], Path]:
    def check(text: str) -> Path:
        path = resolved(base, text)
        if not path.is_file():
            raise adr.Unusable(_("the file {path} does not exist").format(path=path))
        return path

    return check


def read_folder(r: FileReader, fields: Fields, name: str, base: Path) -> Path | None:
    def check(text: str) -> Path:
        path = resolved(base, text)
        if path.is_file():
            raise adr.Unusable(_("{path} is a file, not a folder").format(path=path))
        if not path.is_dir():
            raise adr.Unusable(_("the folder {path} does not exist").format(path=path))
        return path

    return use_value(r, fields, name, check)


def _secret(
    r: FileReader, fields: Fields, file_key: str, env_key: str, parts: StationParts
) -> bytes | None:
    """The secret named by ``file_key`` or ``env_key`` (read only when secrets are wanted)."""
    if fields[file_key] is not None and fields[env_key] is not None:
        r.problem(
            fields.at(env_key),
            child(fields.path, env_key),
            _("give either {file_key} or {env_key}, not both").format(
                file_key=file_key, env_key=env_key
            ),
        )
        return None
    if not parts.secrets:
        return None
    if fields[file_key] is not None:
        return use_value(
            r, fields, file_key, lambda t: adr.read_secret_file(resolved(parts.base, t))
        )
    return use_value(r, fields, env_key, lambda name: adr.read_secret_env(name, parts.environ))


def read_mqtt(r: FileReader, fields: Section, parts: StationParts) -> MqttSettings | None:
    if fields is None:
        return MqttSettings()
    if not isinstance(fields, Fields):
        return None
    before = len(r.problems)
    prefix = use_value(r, fields, "topic_prefix", adr.check_topic_prefix)
    client_id = use_value(
        r, fields, "client_id", lambda t: adr.check_pattern(t, adr.CLIENT_ID_RE, N_("client id"))
    )
    ca_file = use_value(r, fields, "ca_file", _existing_file(parts.base))
    password = _secret(r, fields, "password_file", "password_env", parts)
    brokers = fields["url"]  # ((url, address), ...): config/brokers.py
    if len(r.problems) > before or not fields.ok or not isinstance(brokers, tuple):
        return None
    assert prefix is not None
    assert client_id is not None
    (url, first), *others = brokers
    return MqttSettings(
        url=url,
        topic_prefix=prefix,
        host=first.host,
        port=first.port,
        tls=first.tls,
        ca_file=ca_file,
        username=fields["username"] or first.username,
        password=password.decode() if password is not None else None,
        client_id=client_id,
        keepalive_s=fields["keepalive_s"],
        fallbacks=tuple((b.host, b.port) for _url, b in others),
        urls=tuple(u for u, _b in brokers) if others else (),
    )


def _sample_rate(rate: int) -> int:
    if rate not in SAMPLE_RATES:
        raise adr.Unusable(
            _("{rate} Hz is not a sample rate MP3 supports ({rates})").format(
                rate=rate, rates=", ".join(map(str, SAMPLE_RATES))
            )
        )
    return rate


def _audio(r: FileReader, fields: Section, parts: StationParts) -> AudioSettings | None:
    if not isinstance(fields, Fields):
        return None
    before = len(r.problems)
    folder = parts.audio_dir = read_folder(r, fields, "dir", parts.base)
    base_url = use_value(r, fields, "base_url", adr.audio_base_url)
    use_value(r, fields, "sample_rate", _sample_rate)
    if len(r.problems) > before or not fields.ok or folder is None or base_url is None:
        return None
    return AudioSettings(
        dir=folder,
        base_url=base_url,
        loudness_lufs=float(fields["loudness_lufs"]),
        true_peak_db=float(fields["true_peak_db"]),
        bitrate_kbps=fields["bitrate_kbps"],
        sample_rate=fields["sample_rate"],
        max_input_bytes=fields["max_input_bytes"],
    )


def _http(r: FileReader, fields: Section, base: Path) -> HttpSettings | None:
    if fields is None:
        return HttpSettings()
    if not isinstance(fields, Fields):
        return None
    address = use_value(r, fields, "listen", adr.listen_address)
    if address is None or not fields.ok:
        return None
    users = resolved(base, fields["users"]) if fields["users"] else None
    return HttpSettings(*address, fields["enabled"], users, title=fields["title"] or "")


def _dispatch(fields: Section) -> DispatchSettings | None:
    if fields is None:
        return DispatchSettings()
    if not isinstance(fields, Fields) or not fields.ok:
        return None
    return DispatchSettings(fields["lead_s"], fields["resend_after_s"], fields["misfire_grace_s"])


def read_key(r: FileReader, fields: Fields, parts: StationParts) -> SigningKey | None:
    """The key a (default or ward) signing entry names; ``None`` if unusable or not read."""
    kid = use_value(
        r, fields, "kid", lambda t: adr.check_pattern(t, adr.KID_RE, N_("key id (kid)"))
    )
    if fields["kid"] is None and (fields["key_file"] or fields["key_env"]):
        r.problem(fields.node, fields.path, _('the key "kid" is missing (the key\'s name)'))
    elif fields["kid"] is not None and not (fields["key_file"] or fields["key_env"]):
        r.problem(fields.node, fields.path, _('needs "key_file" or "key_env": where the key is'))
    secret = _secret(r, fields, "key_file", "key_env", parts)
    if secret is not None and len(secret) < adr.MIN_SECRET_BYTES:
        where = "key_file" if fields["key_file"] else "key_env"
        r.problem(
            fields.at(where),
            child(fields.path, where),
            _(
                "the key is only {length} bytes long: use at least {minimum} random characters"
            ).format(length=len(secret), minimum=adr.MIN_SECRET_BYTES),
        )
        return None
    if kid is None or secret is None:
        return None
    return SigningKey(kid, secret)


def _signing(r: FileReader, fields: Section, parts: StationParts) -> SigningSettings | None:
    if fields is None:
        return _keys_folder(r, None, parts, SigningSettings())
    if not isinstance(fields, Fields):
        return None
    before = len(r.problems)
    default = read_key(r, fields, parts)
    per_ward: dict[str, SigningKey] = {}
    wards = fields["wards"] if isinstance(fields["wards"], dict) else {}
    parts.signing_wards = wards
    for ward_id, entry in wards.items():
        if isinstance(entry.value, Fields):
            key = read_key(r, entry.value, parts)
            if key is not None:
                per_ward[ward_id] = key
    if len(r.problems) > before or not fields.ok:
        return None
    return _keys_folder(r, fields, parts, SigningSettings(default=default, per_ward=per_ward))


def _keys_folder(
    r: FileReader, fields: Fields | None, parts: StationParts, signing: SigningSettings
) -> SigningSettings | None:
    """``signing`` with the keys folder (``signing.keys_dir``, default ``keys/`` beside the
    station file) and, when secrets are read, the keys in it."""
    written = fields["keys_dir"] if fields is not None else None
    folder = resolved(parts.base, written if isinstance(written, str) else DEFAULT_KEYS_DIR)
    if not parts.secrets:
        return replace(signing, keys_dir=folder)
    try:
        commands, receivers = read_keys_dir(folder, parts.keys_cache)
    except adr.Unusable as exc:
        node = fields.at("keys_dir") if fields is not None and written else None
        r.problem(node, "signing.keys_dir", str(exc))
        return None
    return replace(signing, keys_dir=folder, commands=commands, receivers=receivers)


DEFAULT_KEYS_DIR = "keys/"


def _programmes(r: FileReader, fields: Fields, parts: StationParts) -> None:
    read = read_programmes(r, fields["programmes"], parts.audio_dir, parts.prober)
    if read is None:
        return
    parts.declared = read.declared
    parts.named = read.named
    parts.programmes = read.programmes
    parts.programme_audio = read.audio
