"""The keys of the station file (``config/ipfm.yaml``), as docs/configuration.md names
them, plus the keys technicians need (documented in docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

from ipfm_scheduler.config.kinds import BOOL, DATE, TEXT, map_of, number, shaped
from ipfm_scheduler.config.reader import Key, Shape
from ipfm_scheduler.config.settings import AudioSettings, DispatchSettings, MqttSettings

_MQTT = MqttSettings()
_DISPATCH = DispatchSettings()
_AUDIO_DEFAULTS = AudioSettings(dir=Path("."))

MQTT = Shape(
    "the mqtt section",
    (
        Key("url", TEXT, "mqtt://HOST:1883, or mqtts://HOST:8883 for TLS", default=_MQTT.url),
        Key("topic_prefix", TEXT, "the first part of every topic", default=_MQTT.topic_prefix),
        Key("client_id", TEXT, "the scheduler's MQTT client id", default=_MQTT.client_id),
        Key("username", TEXT, "the user name on the broker"),
        Key("password_file", TEXT, "a file that holds the broker password"),
        Key("password_env", TEXT, "an environment variable that holds the broker password"),
        Key("ca_file", TEXT, "the CA certificate that signed the broker's (mqtts)"),
        Key("keepalive_s", number(5, 3600), "MQTT keepalive, seconds", default=_MQTT.keepalive_s),
    ),
)

AUDIO = Shape(
    "the audio section",
    (
        Key("dir", TEXT, "the folder of programme audio, relative to this file", required=True),
        Key(
            "base_url",
            TEXT,
            "where receivers download programmes from",
            default=_AUDIO_DEFAULTS.base_url,
        ),
        Key(
            "loudness_lufs",
            number(-40, -5, whole=False),
            "loudness target of imported audio (LUFS)",
            default=_AUDIO_DEFAULTS.loudness_lufs,
        ),
        Key(
            "true_peak_db",
            number(-9, 0, whole=False),
            "highest true peak of imported audio (dBTP)",
            default=_AUDIO_DEFAULTS.true_peak_db,
        ),
        Key(
            "bitrate_kbps",
            number(16, 320),
            "MP3 bit rate of imported audio",
            default=_AUDIO_DEFAULTS.bitrate_kbps,
        ),
        Key(
            "sample_rate",
            number(8000, 48000),
            "sample rate of imported audio (Hz)",
            default=_AUDIO_DEFAULTS.sample_rate,
        ),
        Key(
            "max_input_bytes",
            number(1),
            "larger files are refused on import",
            default=_AUDIO_DEFAULTS.max_input_bytes,
        ),
    ),
)

HTTP = Shape(
    "the http section",
    (
        Key("listen", TEXT, "HOST:PORT of the service's HTTP server", default="127.0.0.1:8079"),
        Key("enabled", BOOL, "false: no HTTP server (audio served elsewhere)", default=True),
    ),
)

_KEY_SOURCE = (
    Key("key_file", TEXT, "a file that holds the shared secret, relative to this file"),
    Key("key_env", TEXT, "an environment variable that holds the shared secret"),
)

WARD_KEY = Shape(
    "a ward's signing key",
    (Key("kid", TEXT, "the key's name, as receivers know it", required=True), *_KEY_SOURCE),
)

SIGNING = Shape(
    "the signing section",
    (
        Key("kid", TEXT, "the default key's name, as receivers know it"),
        *_KEY_SOURCE,
        Key("wards", map_of(shaped(WARD_KEY), "keys by ward id"), "per-ward keys", default={}),
        Key(
            "keys_dir",
            TEXT,
            "the keys folder (ipfm-scheduler keys init): the command key and each receiver's "
            "own key, relative to this file",
            default="keys/",
        ),
    ),
)

DISPATCH = Shape(
    "the dispatch section",
    (
        Key(
            "lead_s", number(0, 3600), "commands go out this long before", default=_DISPATCH.lead_s
        ),
        Key(
            "resend_after_s",
            number(5, 3600),
            "a command with no answer is resent after this long",
            default=_DISPATCH.resend_after_s,
        ),
        Key(
            "misfire_grace_s",
            number(1, 86400),
            "how late a timed job may still run",
            default=_DISPATCH.misfire_grace_s,
        ),
    ),
)

PROGRAMME = Shape(
    "a programme",
    (
        Key("title", TEXT, "the programme's title", required=True),
        Key("audio", TEXT, "its recording: a file in audio.dir", required=True),
        Key(
            "min_per_week",
            number(0, 100),
            "airings every ward must plan per ISO week",
            default=0,  # left out: no minimum; but a blank must not silently drop it
            if_empty="write how many airings each ward must plan a week (0: no minimum)",
        ),
        Key("from", DATE, "the campaign's first day (empty: always)"),
        Key("until", DATE, "the campaign's last day, inclusive (empty: open-ended)"),
    ),
)

STATION = Shape(
    "the station file",
    (
        Key("timezone", TEXT, "IANA time zone, such as Asia/Ho_Chi_Minh", required=True),
        Key("database", TEXT, "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"),
        Key("mqtt", shaped(MQTT), "how to reach the MQTT broker"),
        Key("audio", shaped(AUDIO), "programme audio", required=True),
        Key("http", shaped(HTTP), "the service's HTTP server"),
        Key("signing", shaped(SIGNING), "HMAC keys that sign commands"),
        Key("dispatch", shaped(DISPATCH), "timing of commands"),
        Key(
            "programmes",
            map_of(shaped(PROGRAMME), "programmes by id, such as kh179"),
            "the recorded programmes wards air",
            required=True,
        ),
        Key("wards", TEXT, "the folder of ward files, relative to this file", default="wards/"),
    ),
)
