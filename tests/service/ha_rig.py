"""Rigs for the two-service tests (issue 17): two `ipfm-scheduler run` processes on one real
PostgreSQL database, a simulated fleet, a listener that records every command the broker
passes on (when, and which command id), and a TCP proxy that cuts one service off the
database."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.transport.mqtt import Incoming, MqttTransport
from tests.brokers import free_port
from tests.service.e2e import VN, write_station

TAKEOVER_S = 4


def timed_station(
    folder: Path, *, prefix: str, port: int, receivers: int, audio: tuple[Path, str], delay_s: float
) -> tuple[Path, datetime]:
    """A station (the e2e one) whose one airing is dispatched about ``delay_s`` from now; returns
    the station file and the dispatch instant (UTC)."""
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=2)).replace(second=0, microsecond=0)
    lead_s = int((start - now).total_seconds() - delay_s)
    local = start.astimezone(VN)
    station = write_station(
        folder, prefix=prefix, mqtt_port=port, at=f"{local:%H:%M}", receivers=receivers,
        lead_s=lead_s, audio=audio,
    )  # fmt: skip
    return station, start - timedelta(seconds=lead_s)


def variant(station: Path, name: str, database: str, *, audio_port: int | None = None) -> Path:
    """A copy of ``station`` (same folder: same wards and keys) on ``database``, with its own
    HTTP port, resending after 5 s, and ``ha.takeover_s`` short."""
    lines = []
    http = free_port()
    for line in station.read_text(encoding="utf-8").splitlines():
        if line.startswith("database:"):
            lines.append(f"database: {database}")
        elif line.startswith("  listen:"):
            lines.append(f"  listen: 127.0.0.1:{http}")
        elif line.startswith("  base_url:") and audio_port is not None:
            lines.append(f"  base_url: http://127.0.0.1:{audio_port}/audio")
        elif line.startswith("  resend_after_s:"):
            lines.append("  resend_after_s: 5")
        else:
            lines.append(line)
    lines += ["ha:", f"  takeover_s: {TAKEOVER_S}", ""]
    path = station.with_name(f"{name}.yaml")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def http_port(station: Path) -> int:
    for line in station.read_text(encoding="utf-8").splitlines():
        if line.startswith("  listen:"):
            return int(line.rsplit(":", 1)[1])
    raise AssertionError("no http.listen")


@dataclass
class Heard:
    topic: str
    command_id: str
    at: float  # time.time()


@dataclass
class CommandListener:
    """Every command the broker passes on under ``prefix``: its id and when it came."""

    settings: MqttSettings
    heard: list[Heard] = field(default_factory=list)
    first: threading.Event = field(default_factory=threading.Event)
    #: what to do the moment the first command is heard (a fault in the middle of a slot)
    on_first: Callable[[], object] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: list[tuple[str, bytes, float]] = []
        self.transport = MqttTransport(
            self.settings, [f"{self.settings.topic_prefix}/+/+/cmd"], on_message=self._on
        )

    def _on(self, message: Incoming) -> None:
        at = time.time()
        with self._lock:
            self._raw.append((message.topic, message.payload, at))
            action = None if self.first.is_set() else self.on_first
            self.first.set()
        if action is not None:  # at once, from the listener's own thread
            action()

    def arm(self, action: Callable[[], object]) -> None:
        """Run ``action`` when the first command comes; fails if it has come already (the
        slot began before the test was ready for it: on a slow machine, the services took
        longer to start than the station's delay)."""
        with self._lock:
            assert not self.first.is_set(), "the slot began before the test was ready for it"
            self.on_first = action

    def start(self) -> None:
        self.transport.start()
        assert self.transport.wait_connected(10), "the listener could not connect"

    def ids(self, after: float = 0.0) -> Counter[str]:
        """How often each command id was heard, of those heard at or after ``after``."""
        with self._lock:
            raw, self._raw = self._raw, []
        self.heard += [Heard(topic, str(json.loads(p)["id"]), at) for topic, p, at in raw]
        return Counter(h.command_id for h in self.heard if h.at >= after)

    def close(self) -> None:
        self.transport.close()


class Database:
    """The test's own view of the shared database."""

    def __init__(self, url: str) -> None:
        self.engine = open_engine(url)

    def count(self, table: object, *where: object) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(table)  # type: ignore[arg-type]
            return int(conn.execute(query.where(*where)).scalar_one())

    def completed(self) -> int:
        return self.count(t.commands, t.commands.c.state == "completed")

    def changes(self) -> list[tuple[int, int, str, datetime]]:
        """(epoch, pid, reason, at) of every change of leader."""
        lc = t.ha_leader_changes
        with self.engine.connect() as conn:
            rows = conn.execute(select(lc).order_by(lc.c.epoch)).all()
        return [(r.epoch, r.pid, r.reason, r.at) for r in rows]

    def leader_pid(self) -> int | None:
        with self.engine.connect() as conn:
            pid = conn.execute(select(t.ha_lease.c.pid)).scalar_one_or_none()
        return None if pid is None else int(pid)

    def lease(self) -> tuple[object, ...] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.ha_lease)).first()
        return None if row is None else tuple(row)

    def activity(self) -> list[tuple[object, ...]]:
        """Every other session on this database: who, its state, what it waits on, since when
        its transaction began, and the start of its statement."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT application_name, state, wait_event_type, wait_event, "
                    "clock_timestamp() - xact_start, left(query, 80) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
        return [tuple(row) for row in rows]

    def terminate(self, pid: int) -> int:
        """Terminate the PostgreSQL backends of service ``pid``; returns how many."""
        with self.engine.connect() as conn:
            done = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": f"ipfm-scheduler {pid}"},
            ).scalar_one()
        return int(done)

    def close(self) -> None:
        self.engine.dispose()


class Proxy:
    """A TCP proxy to PostgreSQL for one service; :meth:`cut` closes every connection through it
    and refuses new ones until :meth:`mend`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.open = True
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if not self.open:  # cut while this one was connecting: it must not live on
                    client.close()
                    upstream.close()
                    continue
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self.open = False
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def mend(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.server.close()


def status(binary: str, station: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--config", str(station), "status"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


Waiter = Callable[[Callable[[], bool], float, str], None]
