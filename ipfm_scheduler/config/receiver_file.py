"""Reading a receiver's file (``receiver.yaml``, docs/receiver.md) into
:class:`~ipfm_scheduler.config.settings.ReceiverSettings`, every problem located on its line as
in the station and ward files. ``ipfm-scheduler receiver-config`` writes these files; a
technician may edit them on the box."""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

from ipfm_scheduler.config import addresses as adr
from ipfm_scheduler.config.compound import list_of, shaped
from ipfm_scheduler.config.kinds import DATE, ID, LANGUAGE, TEXT, number
from ipfm_scheduler.config.nodes import Node
from ipfm_scheduler.config.reader import Fields, FileReader, Key, Shape, quote, read_shape
from ipfm_scheduler.config.settings import MqttSettings, ReceiverSettings, SigningKey
from ipfm_scheduler.config.source import read_tree
from ipfm_scheduler.config.station_file import (
    StationParts,
    read_key,
    read_mqtt,
    read_timezone,
    resolved,
    section,
    use_value,
)
from ipfm_scheduler.config.station_shape import MQTT, WARD_KEY
from ipfm_scheduler.errors import ConfigError
from ipfm_scheduler.i18n import N_, _

DEFAULT = ReceiverSettings(
    Path("receiver.yaml"), "", "", zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"), MqttSettings()
)
OUTPUT_FORMS = N_("alsa:DEVICE (alsa:default), pulse, pulse:SINK or file:FOLDER")

CACHE = Shape(
    N_("the cache section"),
    (
        Key(
            "dir", TEXT, N_("where downloaded programmes are kept"), default=str(DEFAULT.cache_dir)
        ),
        Key(
            "max_mb",
            number(1, 1_000_000),
            N_("the most the cache may hold, in MB (oldest unused files go first)"),
            default=DEFAULT.cache_max_bytes // (1024 * 1024),
        ),
    ),
)

RETIRED_KEY = Shape(
    N_("a retired command key"),
    (*WARD_KEY.keys, Key("until", DATE, N_("the last day it is accepted"), required=True)),
)

BOX_SIGNING = Shape(
    N_("the signing section"),
    (
        *WARD_KEY.keys,
        Key(
            "retired",
            list_of(shaped(RETIRED_KEY), N_("a list of keys")),
            N_("command keys still accepted after a rotation (keys rotate), each until its date"),
            default=[],
        ),
    ),
)

RECEIVER = Shape(
    N_("the receiver file"),
    (
        Key("ward", ID, N_("the ward this box belongs to"), required=True),
        Key("receiver", ID, N_("this box's id in the ward file"), required=True),
        Key(
            "timezone",
            TEXT,
            N_("IANA time zone of the times in its answers"),
            default="Asia/Ho_Chi_Minh",
        ),
        Key("language", LANGUAGE, N_("vi or en: the language of the box's messages")),
        Key("mqtt", shaped(MQTT), N_("the broker: the same keys as the station file's")),
        Key(
            "signing",
            shaped(BOX_SIGNING),
            N_("the key the station signs this ward's commands with"),
        ),
        Key("own_key", shaped(WARD_KEY), N_("this box's own key: it signs the box's answers")),
        Key(
            "output",
            TEXT,
            N_(
                "where the sound goes: alsa:DEVICE (alsa:default), pulse, pulse:SINK or file:FOLDER"
            ),
            default=DEFAULT.output,
        ),
        Key("cache", shaped(CACHE), N_("downloaded programmes")),
        Key(
            "state_dir",
            TEXT,
            N_("where the box keeps what it has done"),
            default=str(DEFAULT.state_dir),
        ),
        Key(
            "max_clock_offset_s",
            number(0, 86400, whole=False),
            N_("how far the box's clock may be off before its status says so, seconds"),
            default=DEFAULT.max_clock_offset_s,
        ),
    ),
)


def load_receiver(path: Path, environ: Mapping[str, str] | None = None) -> ReceiverSettings:
    """The receiver file at ``path``; ``ConfigError`` with every problem, each on its line."""
    path = Path(path)
    r = FileReader(path.name)
    _text, root = read_tree(path, r)
    if root is None and not r.problems:
        r.problem(None, "", _("the receiver file is empty (see docs/receiver.md)"))
    settings = None
    if root is not None and not r.problems:
        settings = _read(r, root, path.resolve().parent, os.environ if environ is None else environ)
    if r.problems or settings is None:
        raise ConfigError(sorted(r.problems, key=lambda p: (p.line, p.column)))
    return replace(settings, path=path)


def _read(
    r: FileReader, root: Node, base: Path, environ: Mapping[str, str]
) -> ReceiverSettings | None:
    fields = read_shape(r, root, "", RECEIVER)
    if not isinstance(fields, Fields):
        return None
    parts = StationParts(base, True, environ)
    mqtt = read_mqtt(r, section(fields, "mqtt"), parts)
    signing = section(fields, "signing")
    key = read_key(r, signing, parts) if isinstance(signing, Fields) else None
    retired = _retired(r, signing, parts) if isinstance(signing, Fields) else []
    own = section(fields, "own_key")
    own_key = read_key(r, own, parts) if isinstance(own, Fields) else None
    zone = read_timezone(r, fields)
    output = use_value(r, fields, "output", lambda text: _output(text, base))
    cache = section(fields, "cache")
    cache_dir, max_mb = DEFAULT.cache_dir, DEFAULT.cache_max_bytes // 2**20
    if isinstance(cache, Fields):
        cache_dir = use_value(r, cache, "dir", lambda t: _folder(t, base)) or cache_dir
        max_mb = cache["max_mb"]
    state_dir = use_value(r, fields, "state_dir", lambda t: _folder(t, base))
    if r.problems or not fields.ok or mqtt is None or zone is None or output is None:
        return None
    ward, receiver = fields["ward"], fields["receiver"]
    if not (isinstance(fields["mqtt"], Fields) and fields["mqtt"].given("client_id")):
        mqtt = replace(mqtt, client_id=f"ipfm-receiver-{ward}-{receiver}"[:64])
    return ReceiverSettings(
        path=base,
        ward=ward,
        receiver=receiver,
        timezone=zone,
        mqtt=mqtt,
        keys={k.kid: k.secret for k in (key, *(old for old, _ in retired)) if k is not None},
        own_key=own_key,
        retired=tuple(retired),
        output=output,
        cache_dir=cache_dir,
        cache_max_bytes=int(max_mb) * 1024 * 1024,
        state_dir=state_dir or DEFAULT.state_dir,
        max_clock_offset_s=float(fields["max_clock_offset_s"]),
    )


def _retired(r: FileReader, signing: Fields, parts: StationParts) -> list[tuple[SigningKey, date]]:
    found = []
    for item in signing["retired"] if isinstance(signing["retired"], list) else []:
        if isinstance(item, Fields) and item.ok:
            key = read_key(r, item, parts)
            if key is not None and isinstance(item["until"], date):
                found.append((key, item["until"]))
    return found


def _output(text: str, base: Path) -> str:
    kind, _sep, where = text.strip().partition(":")
    if kind == "alsa" and where.strip():
        return f"alsa:{where.strip()}"
    if kind == "pulse":
        return f"pulse:{where.strip()}" if where.strip() else "pulse"
    if kind == "file" and where.strip():
        return f"file:{_folder(where.strip(), base)}"
    raise adr.Unusable(
        _("{text} is not an output: write {forms}").format(text=quote(text), forms=_(OUTPUT_FORMS))
    )


def _folder(text: str, base: Path) -> Path:
    path = resolved(base, text)
    if path.exists() and not path.is_dir():
        raise adr.Unusable(_("{path} is a file, not a folder").format(path=path))
    return path
