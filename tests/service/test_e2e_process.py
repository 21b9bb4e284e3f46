"""`ipfm-scheduler run` as a real process, as systemd runs it: READY and the watchdog over a
notify socket the test binds, SIGHUP with a bad and a good edit, SIGTERM, an invalid
configuration, an old schema, and SIGKILL + restart (nothing aired twice, nothing lost)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.cli.exitcodes import RET_CONFIG, RET_DATABASE
from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.simulator import Behaviour, Simulator, TimeMode
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from tests.brokers import PrivateBroker
from tests.service.e2e import Plays, signing_of, wait_for, write_station, write_ward

pytestmark = pytest.mark.mqtt

BINARY = str(Path(sys.executable).with_name("ipfm-scheduler"))
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def soon(minutes: int = 3) -> str:
    """A local HH:MM a few minutes ahead, inside the all-day window (00:00-23:59): after 23:55,
    a few minutes after midnight (``write_ward`` then airs it only tomorrow)."""
    moment = datetime.now(UTC).astimezone(VN) + timedelta(minutes=minutes)
    if moment.hour == 23 and moment.minute >= 55:
        return f"00:{minutes:02d}"
    return f"{moment:%H:%M}"


class Manager:
    """The notify socket systemd would give the service."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def expect(self, field: str, timeout: float = 30.0) -> list[str]:
        seen = []
        self.sock.settimeout(timeout)
        while True:
            message = self.sock.recv(4096).decode()
            seen.append(message)
            if field in message.split("\n"):
                return seen


class Service:
    """One `ipfm-scheduler run` process; its log in a file."""

    def __init__(self, station: Path, manager: Manager | None, log: Path) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if manager is not None:
            env |= {"NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "2000000"}
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [BINARY, "--config", str(station), "-v", "run"],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    m = Manager(tmp_path / "notify.sock")
    yield m
    m.sock.close()


def count(db: Path, table: object, *where: object) -> int:
    engine = open_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(table)  # type: ignore[arg-type]
            return int(conn.execute(query.where(*where)).scalar_one())
    finally:
        engine.dispose()


def upgraded(station: Path) -> None:
    subprocess.run(
        [BINARY, "--config", str(station), "db", "upgrade"], check=True, capture_output=True
    )


def test_ready_watchdog_reload_bad_then_good_and_a_clean_stop(
    tmp_path: Path, manager: Manager, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    station = write_station(tmp_path, prefix=topic_prefix, mqtt_port=mqtt_broker[1], at=soon())
    upgraded(station)
    service = Service(station, manager, tmp_path / "run.log")
    try:
        assert "READY=1" in manager.expect("READY=1")[-1].split("\n")
        manager.expect("WATCHDOG=1")
        wait_for(lambda: count(tmp_path / "ipfm.db", t.commands) == 3, 30, "3 commands stored")
        write_ward(tmp_path, at="25:00")  # a bad edit
        service.process.send_signal(signal.SIGHUP)
        manager.expect("RELOADING=1")
        seen = manager.expect("READY=1")
        assert "STATUS=reload refused: the configuration has problems" in seen[-1]
        manager.expect("WATCHDOG=1")  # still healthy, still fed
        write_ward(tmp_path, at=soon(4))  # a good edit: a new airing is planned and sent
        service.process.send_signal(signal.SIGHUP)
        assert "STATUS=configuration reloaded" in manager.expect("READY=1")[-1]
        wait_for(lambda: count(tmp_path / "ipfm.db", t.commands) == 6, 30, "3 more commands")
        assert service.stop() == 0
        manager.expect("STOPPING=1")
    finally:
        service.stop(signal.SIGKILL)
    text = service.text()
    assert "ready: airing for 1 ward(s), 3 receiver(s)" in text
    assert "reload refused: wards/ward-00.yaml:" in text
    assert "configuration NOT reloaded (1 problem(s)): the running plan stays" in text
    assert "stopped cleanly" in text
    assert (
        count(tmp_path / "ipfm.db", t.service_instances, t.service_instances.c.stopped_at.is_(None))
        == 0
    )


def test_an_invalid_configuration_is_refused_with_exit_code_3(tmp_path: Path) -> None:
    station = write_station(tmp_path, prefix="x", mqtt_port=1, at="25:00")
    result = subprocess.run(
        [BINARY, "--config", str(station), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    validate = subprocess.run(
        [BINARY, "--config", str(station), "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == RET_CONFIG
    problem = next(line for line in validate.stdout.splitlines() if "ward-00.yaml:" in line)
    assert problem.strip() in result.stderr  # the same message as `validate`


def test_a_database_without_the_schema_is_refused_with_exit_code_4(tmp_path: Path) -> None:
    station = write_station(tmp_path, prefix="x", mqtt_port=1, at="06:00")
    run = [BINARY, "--config", str(station), "run"]
    missing = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == RET_DATABASE
    assert "does not exist: check the path, or run `ipfm-scheduler db upgrade`" in (missing.stderr)
    assert not (tmp_path / "ipfm.db").exists()  # it used to leave an empty file behind
    (tmp_path / "ipfm.db").write_bytes(b"")  # a file without the schema
    empty = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    assert empty.returncode == RET_DATABASE
    assert "run `ipfm-scheduler db upgrade` first" in empty.stderr


def test_killed_with_sigkill_and_restarted_airs_nothing_twice_and_loses_nothing(
    tmp_path: Path, topic_prefix: str, jingle: tuple[Path, str]
) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    station = write_station(
        tmp_path, prefix=topic_prefix, mqtt_port=broker.port, at=soon(), receivers=30, audio=jingle
    )
    upgraded(station)
    db = tmp_path / "ipfm.db"
    plays = Plays()
    settings = MqttSettings(port=broker.port, topic_prefix=topic_prefix)
    pairs = [("ward-00", f"loa-{i:02d}") for i in range(1, 31)]
    sim = Simulator(
        settings,
        pairs,
        Behaviour(mode=TimeMode.INSTANT, tz=VN, **signing_of(station)),
        on_handled=plays,
    )
    sim.start()
    log = tmp_path / "run.log"
    try:
        broker.pause()  # the broker hangs: the service stores its commands, can't send them
        first = Service(station, None, log)
        wait_for(lambda: count(db, t.commands) == 30, 60, "30 commands stored")
        first.stop(signal.SIGKILL)  # killed between storing and sending
        broker.resume()
        second = Service(station, None, log)
        wait_for(
            lambda: count(db, t.commands, t.commands.c.state == "completed") == 30,
            60,
            "30 commands completed after the restart",
        )
        second.stop(signal.SIGKILL)  # killed again, everything done
        played = sum(plays.plays.values())
        third = Service(station, None, log)
        started = datetime.now(UTC)
        wait_for(lambda: beats_since(db, started) >= 2, 60, "two heartbeats of the third run")
        assert third.stop() == 0
    finally:
        for service in ("first", "second", "third"):
            process = locals().get(service)
            if isinstance(process, Service):
                process.stop(signal.SIGKILL)
        sim.stop()
        broker.stop()
    assert count(db, t.airings, t.airings.c.outcome != "missed") == 1  # earlier days: missed
    assert count(db, t.commands) == 30  # nothing recorded twice
    assert sorted(plays.plays.values()) == [1] * 30  # every receiver played it once
    assert sum(plays.plays.values()) == played  # the third run sent nothing new


def beats_since(db: Path, started: datetime) -> int:
    """Heartbeats of instances started after ``started`` (roughly: seconds of running / 5)."""
    si = t.service_instances
    engine = open_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(si.c.started_at, si.c.last_beat_at).where(si.c.started_at >= started)
            ).first()
    finally:
        engine.dispose()
    if row is None:
        return 0
    return int((row.last_beat_at - row.started_at).total_seconds() // 5) + 1


def cli(station: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BINARY, "--config", str(station), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_air_and_status_as_a_technician_uses_them(
    tmp_path: Path,
    manager: Manager,
    mqtt_broker: tuple[str, int],
    topic_prefix: str,
    jingle: tuple[Path, str],
) -> None:
    station = write_station(
        tmp_path, prefix=topic_prefix, mqtt_port=mqtt_broker[1], at=soon(), audio=jingle
    )
    upgraded(station)
    refused = cli(station, "air", "--ward", "ward-00", "--programme", "kh179")
    assert refused.returncode == 7
    assert "no ipfm-scheduler service is running" in refused.stderr
    assert "nothing was queued" in refused.stderr
    settings = MqttSettings(port=mqtt_broker[1], topic_prefix=topic_prefix)
    pairs = [("ward-00", f"loa-{i:02d}") for i in range(1, 4)]
    sim = Simulator(settings, pairs, Behaviour(mode=TimeMode.INSTANT, tz=VN, **signing_of(station)))
    sim.start()
    service = Service(station, manager, tmp_path / "run.log")
    try:
        manager.expect("READY=1")
        emergency = cli(
            station, "air", "--ward", "ward-00", "--receiver", "loa-02", "--programme", "kh179",
            "--priority", "emergency",
        )  # fmt: skip
        assert emergency.returncode == 0, emergency.stderr
        assert "done: airing #" in emergency.stdout
        assert "(emergency), 1 receiver(s) commanded" in emergency.stdout
        unknown = cli(station, "air", "--ward", "ward-09", "--programme", "kh179")
        assert unknown.returncode == 1
        assert "refused: request #" in unknown.stderr
        assert "ward ward-09 is not in the configuration" in unknown.stderr
        wait_for(
            lambda: count(tmp_path / "ipfm.db", t.commands, t.commands.c.state == "completed") == 4,
            30,
            "the planned airing (3) and the emergency (1) completed",
        )
        second = cli(station, "run")  # the same database: it would send every command twice
        assert second.returncode == 1, second.stderr
        assert "another ipfm-scheduler service runs with this database" in second.stderr
        status = cli(station, "status")
        assert status.returncode == 0, status.stderr
        assert "service: running on" in status.stdout
        assert "receivers: 3 of 3 enabled online" in status.stdout
        assert "ward-00      kh179    3/3 receivers confirmed (minimum 1 a week): on track" in (
            status.stdout
        )
        assert "commands waiting for an answer: 0" in status.stdout
        assert service.stop() == 0
    finally:
        service.stop(signal.SIGKILL)
        sim.stop()
