"""broker-config's files: passwords hashed exactly as mosquitto_passwd hashes them, kept when it
runs again (the files stay the same), changed only by --rotate; every file 0600; the access
list names every receiver of every ward file and nothing more."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ipfm_scheduler.transport import broker_access as access
from tests.config.speaking import speak_english
from tests.conftest import need_service
from tests.service.e2e import write_station
from tests.transport.locked import WARD, broker_config

pytestmark = pytest.mark.usefixtures("ffmpeg")  # the station's recording is probed
SERVICE = access.SERVICE_USER


def mosquitto_hash(tmp_path: Path, password: str) -> str:
    need_service(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd")
    passwd = tmp_path / "made-by-mosquitto"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwd), "someone", password],
        check=True, capture_output=True,
    )  # fmt: skip
    return access.read_password_file(passwd.read_text())["someone"]


def test_a_password_is_hashed_as_mosquitto_passwd_hashes_it(tmp_path: Path) -> None:
    password = access.new_password()
    theirs = mosquitto_hash(tmp_path, password)
    _, seven, iterations, salt, _ = theirs.split("$")
    assert (seven, int(iterations)) == ("7", access.PBKDF2_ITERATIONS)
    assert access.hash_password(password, salt=base64.b64decode(salt)) == theirs
    assert access.password_matches(password, theirs)
    assert not access.password_matches(password + "x", theirs)
    ours = access.hash_password(password)
    assert ours != access.hash_password(password)  # a new salt each time
    assert access.password_matches(password, ours)
    for broken in ("", "$6$abc$def", "$7$x$y$z", "$7$101$!!$??", theirs.replace("$7$", "$8$")):
        assert not access.password_matches(password, broken)


@pytest.fixture
def station(tmp_path: Path) -> Path:
    return write_station(tmp_path / "station", prefix="ipfm", mqtt_port=1883, at="12:00")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_files_name_every_receiver_and_are_for_their_owner_only(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "broker"
    code, stdout, err = broker_config(capsys, station, "-o", str(out))
    assert code == 0, err
    users = [SERVICE] + [f"{WARD}.loa-0{n}" for n in (1, 2, 3)]
    files = snapshot(out)
    assert sorted(files) == sorted(
        ["acl", "mosquitto.conf", "passwd", *(f"users/{u}.password" for u in users)]
    )
    assert {mode for _, mode in files.values()} == {0o600}
    assert stat.S_IMODE((out / "users").stat().st_mode) == 0o700
    hashes = access.read_password_file((out / "passwd").read_text())
    assert sorted(hashes) == sorted(users)
    for user in users:
        password = (out / "users" / f"{user}.password").read_text().strip()
        assert len(password) >= 32
        assert access.password_matches(password, hashes[user])
    acl = (out / "acl").read_text()
    assert f"user {WARD}.loa-02\ntopic read ipfm/{WARD}/loa-02/cmd\n" in acl
    assert f"topic write ipfm/{WARD}/loa-02/ack\ntopic write ipfm/{WARD}/loa-02/status\n" in acl
    assert "user ipfm-scheduler\ntopic read ipfm/+/+/ack\ntopic read ipfm/+/+/status\n" in acl
    assert "topic write ipfm/+/+/cmd\n" in acl
    assert acl.count("\ntopic ") == 3 + 3 * 3  # nothing else is granted
    conf = (out / "mosquitto.conf").read_text()
    for line in ("allow_anonymous false", f"password_file {out.absolute()}/passwd",
                 f"acl_file {out.absolute()}/acl", "listener 8883",
                 "certfile /etc/mosquitto/certs/server.crt"):  # fmt: skip
        assert f"\n{line}\n" in conf
    assert "note: no --certfile: mosquitto.conf names /etc/mosquitto/certs/server.crt" in err
    password_file = out.absolute() / "users" / "ipfm-scheduler.password"
    assert f"  username: ipfm-scheduler\n  password_file: {password_file}\n" in stdout
    assert "new passwords: 4" in err


def test_running_again_keeps_every_password_and_rotate_changes_only_the_one_named(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "broker"
    assert broker_config(capsys, station, "-o", str(out))[0] == 0
    first = snapshot(out)
    code, _, err = broker_config(capsys, station, "-o", str(out))
    assert code == 0, err
    assert snapshot(out) == first
    assert "kept passwords: 4" in err
    assert "new passwords" not in err
    code, _, err = broker_config(capsys, station, "-o", str(out), "--rotate", f"{WARD}.loa-02")
    assert code == 0, err
    rotated = snapshot(out)
    changed = sorted(name for name in first if rotated[name][0] != first[name][0])
    assert changed == ["passwd", f"users/{WARD}.loa-02.password"]
    assert f"new passwords: 1 ({WARD}.loa-02)" in err
    code, _, err = broker_config(capsys, station, "-o", str(out), "--rotate", "all")
    assert code == 0, err
    assert all(snapshot(out)[n][0] != rotated[n][0] for n in rotated if n.startswith("users/"))


def test_a_receiver_added_gets_a_password_and_one_removed_loses_its_user(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "broker"
    assert broker_config(capsys, station, "-o", str(out))[0] == 0
    before = snapshot(out)
    ward = station.parent / "wards" / f"{WARD}.yaml"
    text = ward.read_text()
    assert "  - id: loa-03\n" in text
    ward.write_text(text.replace("  - id: loa-03\n", "  - id: loa-09\n"))
    code, _, err = broker_config(capsys, station, "-o", str(out))
    assert code == 0, err
    after = snapshot(out)
    hashes = access.read_password_file((out / "passwd").read_text())
    assert f"{WARD}.loa-03" not in hashes
    assert f"{WARD}.loa-09" in hashes
    assert f"user {WARD}.loa-03" not in (out / "acl").read_text()
    for kept in (SERVICE, f"{WARD}.loa-01", f"{WARD}.loa-02"):
        name = f"users/{kept}.password"
        assert after[name] == before[name]
    assert f"new passwords: 1 ({WARD}.loa-09)" in err
    assert f"no longer in any ward file, so not in passwd: {WARD}.loa-03" in err


def test_an_unknown_user_to_rotate_and_an_invalid_ward_file_are_refused(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "broker"
    code, _, err = broker_config(capsys, station, "-o", str(out), "--rotate", f"{WARD}.loa-1")
    assert code == 2
    assert f"there is no broker user '{WARD}.loa-1' (did you mean \"{WARD}.loa-01\"?)" in err
    assert not out.exists()
    ward = station.parent / "wards" / f"{WARD}.yaml"
    ward.write_text(ward.read_text().replace("  - id: loa-03\n", "  - id: Loa 03\n"))
    code, _, err = broker_config(capsys, station, "-o", str(out))
    assert code == 3
    assert "cannot give every ward's receivers" in err
    assert f"wards/{WARD}.yaml:" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("username", "said"),
    [
        (f"{WARD}.loa-01", f"the service's broker user '{WARD}.loa-01' is also a receiver's name"),
        ("ipfm:svc", "the broker user name 'ipfm:svc' can't be written in mosquitto's files"),
    ],
)
def test_a_service_user_name_mosquitto_would_misread_is_refused(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], username: str, said: str
) -> None:
    text = station.read_text()
    station.write_text(
        text.replace("  topic_prefix: ipfm\n", f'  topic_prefix: ipfm\n  username: "{username}"\n')
    )
    out = tmp_path / "broker"
    code, _, err = broker_config(capsys, station, "-o", str(out))
    assert code == 1
    assert f"ipfm.yaml: mqtt.username: {said}" in err
    assert not out.exists()


def test_the_service_user_is_the_station_files(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = station.read_text()
    station.write_text(
        text.replace("  topic_prefix: ipfm\n", "  topic_prefix: ipfm\n  username: radio\n")
    )
    out = tmp_path / "broker"
    code, shown, err = broker_config(capsys, station, "-o", str(out))
    assert code == 0, err
    assert "user radio\ntopic read ipfm/+/+/ack\n" in (out / "acl").read_text()
    assert "  username: radio\n" in shown
    assert SERVICE not in (out / "passwd").read_text()


def test_a_password_file_that_is_not_one_is_named_and_nothing_is_written(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "broker"
    assert broker_config(capsys, station, "-o", str(out))[0] == 0
    before = (out / "passwd").read_bytes()
    bad = out / "users" / f"{WARD}.loa-02.password"
    bad.write_bytes(b"x" * 5000)
    code, _, err = broker_config(capsys, station, "-o", str(out))
    assert code == 1
    assert f"{bad} is not a password file: one line of text, at most 1024 bytes" in err
    assert "x" * 100 not in err
    assert (out / "passwd").read_bytes() == before


def test_broker_config_speaks_vietnamese_under_lang_vi_and_its_yaml_stays_the_same(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "broker"
    try:
        code, yaml_vi, err = broker_config(capsys, station, "-o", str(out), "--lang", "vi")
        assert code == 0, err
        assert "mật khẩu mới: 4" in err
        assert (
            "lưu ý: không có --certfile: mosquitto.conf ghi /etc/mosquitto/certs/server.crt là "
            "chứng chỉ của broker: hãy đặt tệp vào đó" in err
        )
        assert "new passwords" not in err
        assert "note:" not in err
        code, _, err = broker_config(
            capsys, station, "-o", str(out), "--rotate", "x", "--lang", "vi"
        )
        assert code == 2
        assert "không có người dùng broker 'x'" in err
    finally:
        speak_english()
    code, yaml_en, err = broker_config(capsys, station, "-o", str(out))
    assert code == 0, err
    assert "kept passwords: 4" in err
    assert "note: no --certfile: mosquitto.conf names /etc/mosquitto/certs/server.crt as " in err
    assert yaml_vi == yaml_en  # the station file's section is pasted as it is
