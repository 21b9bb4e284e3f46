"""Who gets the pages: the loopback address only, unless a password file names who may log in
(HTTP Basic auth, bcrypt); /healthz and /audio/ stay open. Through a real server and sockets,
with a password file written by `ipfm-scheduler http-user add`."""

from __future__ import annotations

import base64
import http.client
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ipfm_scheduler.cli.web import WebPages
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.service.http.access import MAX_FAILURES, Access, Admission, basic_credentials
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.service.http.passwords import add_user, read_users
from ipfm_scheduler.service.http.server import HttpServer
from tests.web.world import World, run, utc_now

NOW = datetime(2025, 11, 27, tzinfo=UTC)


def other_address() -> str | None:
    """An address of this machine that is not loopback (a client from it is "another address")."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: the kernel picks the route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def get(
    host: str, port: int, path: str, auth: str | None = None
) -> tuple[int, bytes, http.client.HTTPMessage]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": auth} if auth else {})
        answer = conn.getresponse()
        return answer.status, answer.read(), answer.headers
    finally:
        conn.close()


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


@pytest.fixture
def users(tmp_path: Path) -> Path:
    """A password file made by the command, the password given on standard input."""
    path = tmp_path / "http-users"
    done = run("http-user", "add", "kiem-toan", "--file", str(path), "--password-stdin",
               input_text="mật-khẩu-đúng-1\n")  # fmt: skip
    assert done.code == 0, done.err
    assert b"kiem-toan" in done.out
    assert path.stat().st_mode & 0o777 == 0o600
    assert "mật-khẩu" not in path.read_text()
    return path


def serve(world: World, access: Access, host: str) -> HttpServer:
    server = HttpServer(host, 0, metrics=Metrics(), access=access)
    server.pages = WebPages(world.repo, world.station, server.health.run, clock=utc_now)
    return server


@pytest.fixture
def open_server(world: World) -> Iterator[HttpServer]:
    with serve(world, Access(None), "0.0.0.0") as server:
        yield server


def test_without_a_password_file_another_address_gets_only_healthz_and_audio(
    open_server: HttpServer,
):
    port = open_server.address[1]
    assert get("127.0.0.1", port, "/")[0] == 200
    assert get("127.0.0.1", port, "/metrics")[0] == 200
    other = other_address()
    if other is None:
        pytest.skip("this machine has no address but loopback")
    for path in ("/", "/metrics", "/weeks/2025-W47.csv", "/wards/cam-trung", "/nothing"):
        status, body, _ = get(other, port, path)
        assert status == 403, path
        assert b"Ph\xc6\xb0\xe1\xbb\x9dng" not in body  # no ward name leaks
    assert get(other, port, "/healthz")[0] == 200
    assert get(other, port, "/audio/" + "0" * 64 + ".mp3")[0] == 404  # open, and not there


def test_with_a_password_file_a_wrong_password_gets_401_and_the_right_one_the_page(
    world: World, users: Path
):
    with serve(world, Access(read_users(users)), "127.0.0.1") as server:
        port = server.address[1]
        status, _, headers = get("127.0.0.1", port, "/")
        assert status == 401
        assert headers["WWW-Authenticate"].startswith('Basic realm="ipfm-scheduler"')
        assert get("127.0.0.1", port, "/", basic("kiem-toan", "sai"))[0] == 401
        assert get("127.0.0.1", port, "/", basic("ai-do", "mật-khẩu-đúng-1"))[0] == 401
        status, body, _ = get("127.0.0.1", port, "/", basic("kiem-toan", "mật-khẩu-đúng-1"))
        assert status == 200
        assert b"cam-trung" in body
        assert get("127.0.0.1", port, "/metrics")[0] == 401
        assert get("127.0.0.1", port, "/healthz")[0] == 200


def test_failed_logins_are_logged_and_a_client_is_stopped_after_five(
    users: Path, caplog: pytest.LogCaptureFixture
):
    access = Access(read_users(users))
    wrong = basic("kiem-toan", "wrong")
    verdicts = [
        access.decide("203.0.113.9", wrong, monotonic=100.0 + i, now=NOW)
        for i in range(MAX_FAILURES + 1)
    ]
    assert verdicts == [Admission.LOGIN] * MAX_FAILURES + [Admission.TOO_MANY]
    right = basic("kiem-toan", "mật-khẩu-đúng-1")
    assert access.decide("203.0.113.9", right, monotonic=110.0, now=NOW) is Admission.TOO_MANY
    assert access.decide("203.0.113.10", right, monotonic=110.0, now=NOW) is Admission.OK
    assert (
        access.decide("203.0.113.9", right, monotonic=161.0, now=NOW) is Admission.OK
    )  # a minute on
    lines = [r for r in caplog.records if "failed login" in r.getMessage()]
    assert len(lines) == MAX_FAILURES
    assert "203.0.113.9" in lines[0].getMessage()
    assert "wrong" not in lines[0].getMessage()


def test_the_loopback_rule_reads_addresses_as_the_socket_gives_them():
    access = Access(None)
    for client, verdict in [
        ("127.0.0.1", Admission.OK), ("127.8.9.10", Admission.OK), ("::1", Admission.OK),
        ("::ffff:127.0.0.1", Admission.OK), ("192.0.2.2", Admission.FORBIDDEN),
        ("::ffff:192.0.2.2", Admission.FORBIDDEN), ("fd00::2", Admission.FORBIDDEN),
        ("not an address", Admission.FORBIDDEN),
    ]:  # fmt: skip
        assert access.decide(client, None, monotonic=0.0, now=NOW) is verdict, client


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + "A" * 5000,
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
def test_an_authorization_header_that_is_not_basic_credentials_is_none(header: str):
    assert basic_credentials(header) is None


def test_http_user_add_changes_a_password_and_refuses_bad_names_and_short_passwords(tmp_path: Path):
    path = tmp_path / "users"
    add_user(path, "a.b", "12345678", rounds=4)
    assert run("http-user", "add", "a.b", "--file", str(path), "--password-stdin",
               input_text="87654321\n").out.startswith(b"changed")  # fmt: skip
    bad = run(
        "http-user", "add", "x:y", "--file", str(path), "--password-stdin", input_text="12345678\n"
    )
    assert bad.code == 2
    assert "not a user name" in bad.err
    short = run(
        "http-user", "add", "c", "--file", str(path), "--password-stdin", input_text="1234\n"
    )
    assert short.code == 2
    assert "too short" in short.err
    assert list(read_users(path)) == ["a.b"]


def test_a_password_file_that_cannot_be_read_leaves_the_pages_on_loopback_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    from ipfm_scheduler.service.wiring import http_access

    assert http_access(None).users is None
    broken = tmp_path / "users"
    broken.write_text("kiem-toan plain-text-password\n")
    access = http_access(broken)
    assert access.users is None  # loopback only, as with no file
    assert "can't be read" in caplog.text
    assert "plain-text-password" not in caplog.text
    assert http_access(tmp_path / "missing").users is None
    with pytest.raises(ValueInvalid):  # `http-user add` does not write over a file it can't read
        add_user(broken, "kiem-toan", "12345678", rounds=4)
    good = tmp_path / "good"
    add_user(good, "kiem-toan", "12345678", rounds=4)
    assert list(http_access(good).users or {}) == ["kiem-toan"]


def test_http_user_add_asks_the_password_twice_without_showing_it(tmp_path: Path):
    path = tmp_path / "users"
    done = run("http-user", "add", "can-bo", "--file", str(path),
               input_text="mật-khẩu-một\nmật-khẩu-hai\nmật-khẩu-một\nmật-khẩu-một\n")  # fmt: skip
    assert done.code == 0, done.err
    assert b"m\xe1\xba\xadt-kh\xe1\xba\xa9u" not in done.out  # never echoed
    assert done.out.count(b"password for can-bo") == 2  # the two did not match: asked again
    assert basic_credentials(basic("can-bo", "mật-khẩu-một")) == ("can-bo", "mật-khẩu-một")
    access = Access(read_users(path))
    right = basic("can-bo", "mật-khẩu-một")
    assert access.decide("127.0.0.1", right, monotonic=0.0, now=NOW) is Admission.OK
