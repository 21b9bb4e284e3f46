"""The station file: every key read as documented, defaults, relative paths, secrets from files
or the environment (only where needed), and its mistakes reported with their line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ipfm_scheduler.config.loader import load_valid
from ipfm_scheduler.errors import ConfigError
from tests.config.conftest import KH179_AUDIO, KH179_FILE

if TYPE_CHECKING:
    from tests.config.conftest import Station

S = "ipfm.yaml"
KEY = "0123456789abcdef0123456789abcdef"


def test_the_sample_station_reads_as_documented(station: Station) -> None:
    loaded = station.load()
    assert loaded.ok, loaded.problems
    st = loaded.station
    assert st is not None
    assert st.timezone.key == "Asia/Ho_Chi_Minh"
    repo = station.folder.parent
    assert st.database_url == f"sqlite:///{repo / 'var' / 'ipfm.db'}"
    assert (st.mqtt.host, st.mqtt.port, st.mqtt.tls, st.mqtt.topic_prefix) == (
        "127.0.0.1",
        1883,
        False,
        "ipfm",
    )
    assert st.audio.dir == repo / "audio"
    assert (st.http.host, st.http.port) == ("127.0.0.1", 8079)
    assert (st.dispatch.lead_s, st.dispatch.resend_after_s, st.dispatch.misfire_grace_s) == (
        120,
        30,
        300,
    )
    kh179 = st.programmes["kh179"]
    assert (kh179.min_per_week, str(kh179.start), kh179.until) == (1, "2022-07-04", None)
    assert kh179.duration_s == 85.0
    assert st.programme_audio["kh179"].path == repo / "audio" / KH179_FILE
    assert st.wards_dir == station.folder / "wards"
    assert st.signing.default is None
    assert st.sha256
    assert st.text.startswith("# The station")


def test_optional_sections_take_their_defaults(station: Station) -> None:
    text = station.path.read_text(encoding="utf-8")
    start, end = text.index("mqtt:"), text.index("programmes:")
    keep = "audio:\n  dir: ../audio\n"
    station.path.write_text(text[:start] + keep + text[end:], encoding="utf-8")
    loaded = station.load()
    assert loaded.ok, loaded.problems
    st = loaded.station
    assert st is not None
    assert st.mqtt.url == "mqtt://127.0.0.1:1883"
    assert st.audio.base_url == "http://127.0.0.1:8079/audio"
    assert (st.audio.loudness_lufs, st.audio.bitrate_kbps) == (-16.0, 64)
    assert st.http.enabled


def test_unknown_time_zone(station: Station) -> None:
    station.edit_station("timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Ho_Chi_Min")
    assert station.problems() == [
        f'{S}:3:11: timezone: "Asia/Ho_Chi_Min" is not a known time zone (did you mean '
        '"Asia/Ho_Chi_Minh"?): write an IANA name such as Asia/Ho_Chi_Minh'
    ]


def test_an_unusable_station_leaves_station_none_but_wards_checked(station: Station) -> None:
    station.edit_station("timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus")
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    loaded = station.load()
    assert loaded.station is None
    assert loaded.schedule is None
    assert [p.file for p in loaded.problems] == [S, "wards/cam-trung.yaml"]


def test_campaign_that_ends_before_it_starts(station: Station) -> None:
    station.edit_station("    until: null", "    until: 2022-01-01")
    assert station.problems() == [
        f"{S}:43:12: programmes.kh179.until: the campaign ends (2022-01-01) before it starts "
        "(2022-07-04, from)"
    ]


def test_campaign_that_ends_before_it_starts_beside_another_mistake(station: Station) -> None:
    """Both mistakes of the programme are reported in one run."""
    station.edit_station("    until: null", "    until: 2022-01-01")
    station.edit_station("    min_per_week: 1", '    min_per_week: "1"')
    assert station.problems() == [
        f'{S}:41:19: programmes.kh179.min_per_week: "1" is in quotes: write the number without '
        "quotes",
        f"{S}:43:12: programmes.kh179.until: the campaign ends (2022-01-01) before it starts "
        "(2022-07-04, from)",
    ]


def test_programme_audio_that_receivers_could_not_download_is_refused(station: Station) -> None:
    """Receivers play MP3 and the service serves only /audio/<sha256>.mp3: a WAV named as a
    programme's audio would pass, then every receiver would fail its download."""
    audio = station.folder.parent / "audio"
    (audio / "kh179.wav").write_bytes(b"RIFF")
    station.edit_station(KH179_AUDIO, "    audio: kh179.wav")
    assert station.problems() == [
        f'{S}:40:12: programmes.kh179.audio: "kh179.wav" is not an MP3 file: receivers play MP3 '
        "and the service serves only .mp3 files; import the recording with `ipfm-scheduler "
        "audio add FILE --programme kh179` and name the file it stores"
    ]


def test_missing_audio_file(station: Station) -> None:
    station.edit_station(KH179_AUDIO, "    audio: kh197.mp3")
    audio = station.folder.parent / "audio"
    assert station.problems() == [
        f'{S}:40:12: programmes.kh179.audio: "kh197.mp3" is not in the audio folder {audio} '
        "(audio.dir): put the recording there, or correct the name"
    ]


def test_ward_airing_a_broken_programme_is_not_told_it_is_unknown(station: Station) -> None:
    station.edit_station(KH179_AUDIO, "    audio: kh197.mp3")
    assert all(p.file == S for p in station.load().problems)


def test_missing_audio_folder(station: Station) -> None:
    station.edit_station("  dir: ../audio", "  dir: ../sounds")
    found = station.problems()
    assert found == [
        f"{S}:17:8: audio.dir: the folder {station.folder.parent / 'sounds'} does not exist"
    ]


def test_missing_wards_folder(station: Station) -> None:
    station.edit_station("wards: wards/", "wards: ward/")
    assert station.problems() == [
        f"{S}:45:8: wards: the folder {station.folder / 'ward'} does not exist"
    ]


def test_empty_wards_folder(station: Station) -> None:
    for path in (station.folder / "wards").iterdir():
        path.unlink()
    assert station.problems() == [
        f"{S}: wards: the folder {station.folder / 'wards'} holds no ward files"
    ]


def test_missing_station_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    from datetime import date

    from ipfm_scheduler.config.loader import load

    loaded = load(tmp_path / "ipfm.yaml", today=date(2026, 11, 27), environ={})
    assert loaded.station is None
    assert [str(p) for p in loaded.problems] == [
        f"ipfm.yaml: the file {tmp_path / 'ipfm.yaml'} does not exist"
    ]


def test_load_valid_raises_with_every_problem(station: Station) -> None:
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    station.edit_ward("cam-son", "days: [sat]", "days: [sa]")
    with pytest.raises(ConfigError) as caught:
        load_valid(station.path, **station.options())  # type: ignore[arg-type]
    assert [p.file for p in caught.value.problems] == ["wards/cam-son.yaml", "wards/cam-trung.yaml"]
    assert str(caught.value).startswith("2 problems in the configuration:\n  wards/cam-son.yaml:")


def test_relative_sqlite_path_is_relative_to_the_station_folder(station: Station) -> None:
    station.edit_station("database: sqlite:///../var/ipfm.db", "database: sqlite:///db/x.db")
    st = station.load().station
    assert st is not None
    assert st.database_url == f"sqlite:///{station.folder / 'db' / 'x.db'}"


def test_absolute_sqlite_path_and_postgres_url(station: Station) -> None:
    station.edit_station("database: sqlite:///../var/ipfm.db", "database: sqlite:////srv/x.db")
    assert station.load().station.database_url == "sqlite:////srv/x.db"  # type: ignore[union-attr]
    station.edit_station("database: sqlite:////srv/x.db", "database: postgresql://ipfm@db/ipfm")
    url = station.load().station.database_url  # type: ignore[union-attr]
    assert url == "postgresql+psycopg://ipfm@db/ipfm"


def test_database_url_from_the_environment_wins(
    station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IPFM_DATABASE_URL replaces the file's value; a relative SQLite path there is relative to
    the current directory (as any path typed on a command line)."""
    monkeypatch.chdir(tmp_path)
    env = {"IPFM_DATABASE_URL": "sqlite:///other.db"}
    assert station.load(environ=env).station.database_url == f"sqlite:///{tmp_path / 'other.db'}"  # type: ignore[union-attr]
    env = {"IPFM_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/ipfm"}
    st = station.load(environ=env).station
    assert st is not None
    assert st.database_url == env["IPFM_DATABASE_URL"]
    station.edit_station("database: sqlite:///../var/ipfm.db\n", "")
    assert station.load(environ=env).ok


def test_missing_database_key(station: Station) -> None:
    station.edit_station("database: sqlite:///../var/ipfm.db\n", "")
    assert station.problems() == [
        f'{S}:3:1: the key "database" is missing (sqlite:///PATH or '
        "postgresql+psycopg://USER@HOST/DATABASE); or set the environment variable "
        "IPFM_DATABASE_URL"
    ]


def test_unsupported_database(station: Station) -> None:
    station.edit_station("sqlite:///../var/ipfm.db", "mysql://x/y")
    assert station.problems() == [
        f'{S}:7:11: database: "mysql://x/y" is not a database URL this program can use '
        "(sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE)"
    ]


def test_password_in_the_broker_url_is_refused(station: Station) -> None:
    station.edit_station("mqtt://127.0.0.1:1883", "mqtt://ipfm:secret@127.0.0.1:1883")
    assert station.problems() == [
        f"{S}:10:8: mqtt.url: the address holds a password: put the password in a file named "
        "by mqtt.password_file (or a variable named by mqtt.password_env), never in this file"
    ]


def test_mqtts_with_user_and_password_file(station: Station) -> None:
    (station.folder / "mqtt.pw").write_text("s3cret\n", encoding="utf-8")
    (station.folder / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    station.edit_station(
        "  url: mqtt://127.0.0.1:1883",
        "  url: mqtts://broker.campha.vn\n  username: ipfm\n  password_file: mqtt.pw\n"
        "  ca_file: ca.pem",
    )
    st = station.load().station
    assert st is not None
    m = st.mqtt
    assert (m.host, m.port, m.tls, m.username, m.password) == (
        "broker.campha.vn",
        8883,
        True,
        "ipfm",
        "s3cret",
    )
    assert m.ca_file == station.folder / "ca.pem"


def test_password_from_the_environment(station: Station) -> None:
    station.edit_station("  client_id: ipfm-scheduler", "  client_id: ipfm-1\n  password_env: PW")
    st = station.load(environ={"PW": "pw"}).station
    assert st is not None
    assert (st.mqtt.password, st.mqtt.client_id) == ("pw", "ipfm-1")
    assert station.problems() == [
        f"{S}:13:17: mqtt.password_env: the environment variable PW is not set"
    ]


def test_password_file_and_env_together(station: Station) -> None:
    station.edit_station(
        "  client_id: ipfm-scheduler", "  client_id: x\n  password_file: a\n  password_env: B"
    )
    assert station.problems(secrets=False) == [
        f"{S}:14:17: mqtt.password_env: give either password_file or password_env, not both"
    ]


def _with_signing(station: Station, block: str) -> None:
    station.edit_station("dispatch:\n", block + "dispatch:\n")


def test_signing_keys_default_and_per_ward(station: Station) -> None:
    (station.folder / "k.key").write_text(KEY + "\n", encoding="utf-8")
    _with_signing(
        station,
        "signing:\n  kid: campha-2026\n  key_file: k.key\n  wards:\n"
        "    cua-ong: {kid: cua-ong-2026, key_env: K_CUA_ONG}\n",
    )
    st = station.load(environ={"K_CUA_ONG": "z" * 20}).station
    assert st is not None
    default = st.signing.key_for("cam-trung")
    assert default is not None
    assert (default.kid, default.secret) == ("campha-2026", KEY.encode())
    ward_key = st.signing.key_for("cua-ong")
    assert ward_key is not None
    assert (ward_key.kid, ward_key.secret) == ("cua-ong-2026", b"z" * 20)


def test_missing_key_file_is_a_station_problem_only_where_needed(station: Station) -> None:
    _with_signing(station, "signing:\n  kid: campha-2026\n  key_file: /nonexistent/k.key\n")
    assert station.problems() == [
        f"{S}:32:13: signing.key_file: the file /nonexistent/k.key does not exist"
    ]
    loaded = station.load(secrets=False)  # `plan` does not need the key
    assert loaded.ok
    assert loaded.station is not None
    assert not loaded.station.secrets_loaded
    assert loaded.station.signing.default is None


def test_short_key_and_unknown_ward(station: Station) -> None:
    _with_signing(
        station,
        "signing:\n  kid: k\n  key_env: K\n  wards:\n    cam-trungg: {kid: k2, key_env: K}\n",
    )
    assert station.problems(environ={"K": "short"}) == [
        f"{S}:32:12: signing.key_env: the key is only 5 bytes long: use at least 16 random "
        "characters",
        f'{S}:34:5: signing.wards.cam-trungg: "cam-trungg" is not a ward of this station (did '
        'you mean "cam-trung"?)',
        f"{S}:34:36: signing.wards.cam-trungg.key_env: the key is only 5 bytes long: use at "
        "least 16 random characters",
    ]


def test_key_without_kid(station: Station) -> None:
    _with_signing(station, "signing:\n  key_env: K\n")
    assert station.problems(environ={"K": KEY}) == [
        f"""{S}:31:3: signing: the key "kid" is missing (the key's name)"""
    ]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "listen: 127.0.0.1:8079",
            "listen: 127.0.0.1:80790",
            '21:11: http.listen: "127.0.0.1:80790" is not an address to listen on (write '
            "HOST:PORT, such as 127.0.0.1:8079)",
        ),
        (
            "topic_prefix: ipfm",
            "topic_prefix: ipfm/#",
            '11:17: mqtt.topic_prefix: "ipfm/#" is not a topic prefix: use letters, digits, '
            "'-', '_' and '.', parts separated by '/', no wildcards (+, #) and no '/' at either "
            "end",
        ),
        (
            "  lead_s: 120 ",
            "  lead_s: -1 ",
            "31:11: dispatch.lead_s: -1 is out of range: expected a whole number from 0 to 3600",
        ),
        (
            "base_url: http://127.0.0.1:8079/audio",
            "base_url: ftp://x/audio",
            '18:13: audio.base_url: "ftp://x/audio" is not a web address (write '
            "http://HOST:PORT/audio)",
        ),
        (
            "    min_per_week: 1 ",
            "    min_per_week: once ",
            '41:19: programmes.kh179.min_per_week: "once" is not a whole number from 0 to 100',
        ),
        (
            "  kh179:\n",
            "  KH179:\n",
            '36:3: programmes: "KH179" is not a valid id: use 1 to 64 characters of a-z, 0-9, '
            "'-' and '_' (such as \"kh179\")",
        ),
    ],
)
def test_station_mistakes(station: Station, old: str, new: str, problem: str) -> None:
    station.edit_station(old, new)
    found = [p for p in station.problems() if p.startswith(S)]
    assert found == [f"{S}:{problem}"]


def test_http_listen_and_audio_settings(station: Station) -> None:
    station.edit_station("  listen: 127.0.0.1:8079", "  listen: '[::1]:9000'\n  enabled: no")
    station.edit_station(
        "  dir: ../audio", "  dir: ../audio\n  loudness_lufs: -18\n  sample_rate: 48000"
    )
    st = station.load().station
    assert st is not None
    assert (st.http.host, st.http.port, st.http.enabled) == ("::1", 9000, False)
    assert (st.audio.loudness_lufs, st.audio.sample_rate) == (-18.0, 48000)


def test_campaign_and_audio_problems_are_reported_together(station: Station) -> None:
    station.edit_station("    until: null", "    until: 2022-01-01")
    station.edit_station(KH179_AUDIO, "    audio: kh197.mp3")
    found = station.problems()
    assert [p.split(": ")[1] for p in found] == [
        "programmes.kh179.audio",
        "programmes.kh179.until",
    ]


def test_an_empty_min_per_week_is_refused_not_read_as_no_minimum(station: Station) -> None:
    station.edit_station("    min_per_week: 1", "    min_per_week:")
    assert station.problems() == [
        f"{S}:41:18: programmes.kh179.min_per_week: is empty; expected a whole number from 0 "
        "to 100: write how many airings each ward must plan a week (0: no minimum)"
    ]


def test_campaign_dates_in_year_1_or_9999_are_located_problems_not_crashes(
    station: Station,
) -> None:
    station.edit_station("    until: null", "    until: 9999-12-31")
    station.edit_station("    from: 2022-07-04", "    from: 0001-01-01")
    rule = "is outside the years 2000-2099 that these files may name"
    found = station.problems()
    assert [p.split(": ", 2)[:2] for p in found] == [
        [f"{S}:42:11", "programmes.kh179.from"],
        [f"{S}:43:12", "programmes.kh179.until"],
    ]
    assert all(rule in p for p in found)


def test_an_empty_database_is_named_on_its_own_line(station: Station) -> None:
    station.edit_station("database: sqlite:///../var/ipfm.db", "database:")
    (found,) = station.problems()
    assert found.startswith(f"{S}:7:10: database: is empty; write the airing log's database (")


def test_a_wards_folder_that_is_a_file_is_called_a_file(station: Station) -> None:
    station.edit_station("wards: wards/", "wards: ipfm.yaml")
    (found,) = station.problems()
    assert found.startswith(f"{S}:45:8: wards: ")
    assert found.endswith("ipfm.yaml is a file, not a folder")


def test_a_list_of_brokers_is_tried_in_order(station: Station) -> None:
    station.edit_station(
        "  url: mqtt://127.0.0.1:1883",
        "  url:\n    - mqtt://10.0.0.1:1883\n    - mqtt://10.0.0.2\n    - mqtt://[fd00::3]:11883",
    )
    st = station.load().station
    assert st is not None
    m = st.mqtt
    assert (m.url, m.host, m.port) == ("mqtt://10.0.0.1:1883", "10.0.0.1", 1883)
    assert m.nodes == (("10.0.0.1", 1883), ("10.0.0.2", 1883), ("fd00::3", 11883))
    assert m.shown == "mqtt://10.0.0.1:1883, mqtt://10.0.0.2, mqtt://[fd00::3]:11883"


def test_each_bad_broker_of_the_list_is_named_on_its_line(station: Station) -> None:
    station.edit_station(
        "  url: mqtt://127.0.0.1:1883",
        "  url:\n    - mqtt://10.0.0.1:1883\n    - http://10.0.0.2\n    - mqtt://10.0.0.1\n"
        "    - mqtts://10.0.0.4\n    - {url: x}",
    )
    assert station.problems() == [
        f'{S}:12:7: mqtt.url[2]: "http://10.0.0.2" is not a broker address (write '
        "mqtt://HOST:1883, or mqtts://HOST:8883 for TLS)",
        f'{S}:13:7: mqtt.url[3]: "mqtt://10.0.0.1" is already in the list (item 1)',
        f'{S}:14:7: mqtt.url[4]: "mqtts://10.0.0.4": every broker of the list is reached the '
        "same way, all mqtt:// or all mqtts://",
        f"{S}:15:7: mqtt.url[5]: expected a text, found a group of `key: value` lines",
    ]


def test_an_empty_list_of_brokers_is_refused(station: Station) -> None:
    station.edit_station("  url: mqtt://127.0.0.1:1883", "  url: []")
    assert station.problems() == [
        f"{S}:10:8: mqtt.url: is empty; expected a broker URL, or a list of at most 16 broker URLs"
    ]
