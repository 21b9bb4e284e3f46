"""The keys of the station file (``config/ipfm.yaml``), as docs/configuration.md names
them, plus the keys technicians need (documented in docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

from ipfm_scheduler.config.addresses import broker_address
from ipfm_scheduler.config.brokers import BROKERS
from ipfm_scheduler.config.compound import map_of, shaped
from ipfm_scheduler.config.kinds import BOOL, DATE, LANGUAGE, TEXT, number
from ipfm_scheduler.config.reader import Fields, Key, Shape
from ipfm_scheduler.config.settings import (
    AudioSettings,
    DispatchSettings,
    HaSettings,
    MqttSettings,
)
from ipfm_scheduler.i18n import N_

_MQTT = MqttSettings()
_DISPATCH = DispatchSettings()
_AUDIO_DEFAULTS = AudioSettings(dir=Path("."))

MQTT = Shape(
    N_("the mqtt section"),
    (
        Key(
            "url",
            BROKERS,
            N_(
                "mqtt://HOST:1883, or mqtts://HOST:8883 for TLS; or a list of them (the nodes of "
                "a cluster, a bridged pair), tried in order"
            ),
            default=((_MQTT.url, broker_address(_MQTT.url)),),
        ),
        Key("topic_prefix", TEXT, N_("the first part of every topic"), default=_MQTT.topic_prefix),
        Key("client_id", TEXT, N_("the scheduler's MQTT client id"), default=_MQTT.client_id),
        Key("username", TEXT, N_("the user name on the broker")),
        Key("password_file", TEXT, N_("a file that holds the broker password")),
        Key("password_env", TEXT, N_("an environment variable that holds the broker password")),
        Key("ca_file", TEXT, N_("the CA certificate that signed the broker's (mqtts)")),
        Key(
            "keepalive_s", number(5, 3600), N_("MQTT keepalive, seconds"), default=_MQTT.keepalive_s
        ),
    ),
)

AUDIO = Shape(
    N_("the audio section"),
    (
        Key("dir", TEXT, N_("the folder of programme audio, relative to this file"), required=True),
        Key(
            "base_url",
            TEXT,
            N_("where receivers download programmes from"),
            default=_AUDIO_DEFAULTS.base_url,
        ),
        Key(
            "loudness_lufs",
            number(-40, -5, whole=False),
            N_("loudness target of imported audio (LUFS)"),
            default=_AUDIO_DEFAULTS.loudness_lufs,
        ),
        Key(
            "true_peak_db",
            number(-9, 0, whole=False),
            N_("highest true peak of imported audio (dBTP)"),
            default=_AUDIO_DEFAULTS.true_peak_db,
        ),
        Key(
            "bitrate_kbps",
            number(16, 320),
            N_("MP3 bit rate of imported audio"),
            default=_AUDIO_DEFAULTS.bitrate_kbps,
        ),
        Key(
            "sample_rate",
            number(8000, 48000),
            N_("sample rate of imported audio (Hz)"),
            default=_AUDIO_DEFAULTS.sample_rate,
        ),
        Key(
            "max_input_bytes",
            number(1),
            N_("larger files are refused on import"),
            default=_AUDIO_DEFAULTS.max_input_bytes,
        ),
    ),
)

HTTP = Shape(
    N_("the http section"),
    (
        Key("listen", TEXT, N_("HOST:PORT of the service's HTTP server"), default="127.0.0.1:8079"),
        Key("enabled", BOOL, N_("false: no HTTP server (audio served elsewhere)"), default=True),
        Key(
            "users",
            TEXT,
            N_(
                "the password file of the web pages (ipfm-scheduler http-user add), relative "
                "to this file; without it the pages answer on the loopback address only"
            ),
        ),
        Key(
            "title",
            TEXT,
            N_("who runs the station, at the top of the web pages and the printed report"),
            default="",
        ),
    ),
)

_KEY_SOURCE = (
    Key("key_file", TEXT, N_("a file that holds the shared secret, relative to this file")),
    Key("key_env", TEXT, N_("an environment variable that holds the shared secret")),
)

WARD_KEY = Shape(
    N_("a ward's signing key"),
    (Key("kid", TEXT, N_("the key's name, as receivers know it"), required=True), *_KEY_SOURCE),
)

SIGNING = Shape(
    N_("the signing section"),
    (
        Key("kid", TEXT, N_("the default key's name, as receivers know it")),
        *_KEY_SOURCE,
        Key(
            "wards",
            map_of(shaped(WARD_KEY), N_("keys by ward id")),
            N_("per-ward keys"),
            default={},
        ),
        Key(
            "keys_dir",
            TEXT,
            N_(
                "the keys folder (ipfm-scheduler keys init): the command key and each receiver's "
                "own key, relative to this file"
            ),
            default="keys/",
        ),
    ),
)

DISPATCH = Shape(
    N_("the dispatch section"),
    (
        Key(
            "lead_s",
            number(0, 3600),
            N_("commands go out this long before"),
            default=_DISPATCH.lead_s,
        ),
        Key(
            "resend_after_s",
            number(5, 3600),
            N_("a command with no answer is resent after this long"),
            default=_DISPATCH.resend_after_s,
        ),
        Key(
            "misfire_grace_s",
            number(1, 86400),
            N_("how late a timed job may still run"),
            default=_DISPATCH.misfire_grace_s,
        ),
    ),
)

HA = Shape(
    N_("the ha section"),
    (
        Key(
            "takeover_s",
            number(2, 3600, whole=False),
            N_(
                "with PostgreSQL, a standby service takes over at most this long after the "
                "leader died, hung or lost the database"
            ),
            default=HaSettings().takeover_s,
        ),
    ),
)


def ha_settings(station: Fields | None) -> HaSettings:
    """The ``ha`` section's settings (its problems are reported when the file is read)."""
    section = station["ha"] if station is not None else None
    if not isinstance(section, Fields) or not section.ok:
        return HaSettings()
    return HaSettings(takeover_s=float(section["takeover_s"]))


PROGRAMME = Shape(
    N_("a programme"),
    (
        Key("title", TEXT, N_("the programme's title"), required=True),
        Key("audio", TEXT, N_("its recording: a file in audio.dir"), required=True),
        Key(
            "min_per_week",
            number(0, 100),
            N_("airings every ward must plan per ISO week"),
            default=0,  # left out: no minimum; but a blank must not silently drop it
            if_empty=N_("write how many airings each ward must plan a week (0: no minimum)"),
        ),
        Key("from", DATE, N_("the campaign's first day (empty: always)")),
        Key("until", DATE, N_("the campaign's last day, inclusive (empty: open-ended)")),
    ),
)

STATION = Shape(
    N_("the station file"),
    (
        Key("timezone", TEXT, N_("IANA time zone, such as Asia/Ho_Chi_Minh"), required=True),
        Key("language", LANGUAGE, N_("vi or en: the language messages and reports speak")),
        Key("database", TEXT, N_("sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")),
        Key("mqtt", shaped(MQTT), N_("how to reach the MQTT broker")),
        Key("audio", shaped(AUDIO), N_("programme audio"), required=True),
        Key("http", shaped(HTTP), N_("the service's HTTP server")),
        Key("signing", shaped(SIGNING), N_("HMAC keys that sign commands")),
        Key("dispatch", shaped(DISPATCH), N_("timing of commands")),
        Key("ha", shaped(HA), N_("a standby service on a second machine (PostgreSQL only)")),
        Key(
            "programmes",
            map_of(shaped(PROGRAMME), N_("programmes by id, such as kh179")),
            N_("the recorded programmes wards air"),
            required=True,
        ),
        Key("wards", TEXT, N_("the folder of ward files, relative to this file"), default="wards/"),
    ),
)
