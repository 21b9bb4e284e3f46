"""sd_notify over a real AF_UNIX datagram socket bound by the test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipfm_scheduler.service.systemd import Notifier, watchdog_interval


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A socket standing in for systemd's notify socket."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5.0)
    yield path, sock
    sock.close()


def test_ready_status_watchdog_and_stopping_arrive_as_datagrams(
    manager: tuple[str, socket.socket],
) -> None:
    path, sock = manager
    notifier = Notifier(path)
    assert notifier.ready("airing for 16 wards")
    assert sock.recv(4096) == b"READY=1\nSTATUS=airing for 16 wards"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_reloading_carries_the_monotonic_time(manager: tuple[str, socket.socket]) -> None:
    path, sock = manager
    Notifier(path).reloading()
    fields = sock.recv(4096).decode().split("\n")
    assert fields[0] == "RELOADING=1"
    assert fields[1].startswith("MONOTONIC_USEC=")
    assert int(fields[1].split("=")[1]) > 0


def test_an_abstract_socket_address_is_understood() -> None:
    name = f"ipfm-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5.0)
    try:
        assert Notifier("@" + name).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_without_a_manager_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert not notifier.ready()


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert not Notifier(str(tmp_path / "gone.sock")).watchdog()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "lots"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_is_fed_at_half_its_timeout(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env) == expected


def test_a_manager_that_does_not_read_never_holds_the_service_up(
    manager: tuple[str, socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    """The manager's queue fills (net.unix.max_dgram_qlen datagrams); later sends give up after
    the timeout instead of blocking forever (a service that could not stop on SIGTERM), warn
    once for the outage, and work again once the manager reads."""
    path, sock = manager
    notifier = Notifier(path, timeout=0.05)
    sent = [notifier.watchdog() for _ in range(40)]
    assert sent.count(True) >= 1
    assert sent[-1] is False
    warnings = [r for r in caplog.records if "could not notify systemd" in r.getMessage()]
    assert len(warnings) == 1
    sock.setblocking(False)
    drained = 0
    while True:
        try:
            sock.recv(4096)
        except BlockingIOError:
            break
        drained += 1
    assert drained == sent.count(True)
    sock.settimeout(5.0)
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
