"""A running HttpServer on an ephemeral port, with one allowed recording and switchable checks."""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ipfm_scheduler.audio.importer import import_audio
from ipfm_scheduler.config.settings import AudioSettings
from ipfm_scheduler.service.http.health import Health, HealthChecks
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.service.http.server import HttpServer
from tests.audio.conftest import run_ffmpeg


@dataclass
class Served:
    """The server under test and what it serves."""

    server: HttpServer
    audio_dir: Path
    data: bytes
    sha256: str
    metrics: Metrics
    checks: dict[str, Health] = field(default_factory=dict)

    @property
    def file_path(self) -> str:
        return f"/audio/{self.sha256}.mp3"

    def connect(self) -> http.client.HTTPConnection:
        host, port = self.server.address
        return http.client.HTTPConnection(host, port, timeout=10)

    def request(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Status, headers (by name in any case, as HTTP has them), body."""
        conn = self.connect()
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """100 000 bytes stored as <sha256>.mp3 and allowed; an unlisted file beside it."""
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    data = os.urandom(100_000)
    sha = hashlib.sha256(data).hexdigest()
    (audio_dir / f"{sha}.mp3").write_bytes(data)
    (audio_dir / "catalogue.json").write_text('{"version": 1, "entries": []}\n')
    checks = {name: Health(True, "fine") for name in ("scheduler", "broker", "database")}

    def check_for(name: str) -> Callable[[], Health]:
        return lambda: checks[name]

    metrics = Metrics()
    health = HealthChecks({name: check_for(name) for name in checks}, timeout_s=0.5)
    server = HttpServer(
        "127.0.0.1", 0, audio={sha: audio_dir / f"{sha}.mp3"}, health=health, metrics=metrics
    )
    server.start()
    try:
        yield Served(server, audio_dir, data, sha, metrics, checks)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def jingle(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(audio folder, file name): a 3-second recording imported (normalised, catalogued) for
    kh179 by the real importer. End-to-end tests with receivers that answer `completed` at once
    use it: the airing log refuses a `completed` sooner than the recording lasts."""
    folder = tmp_path_factory.mktemp("jingle")
    source = folder / "jingle.wav"
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-af", "volume=-12dB",
               str(source))  # fmt: skip
    audio_dir = folder / "audio"
    entry = import_audio(
        source,
        programme="kh179",
        title="jingle",
        settings=AudioSettings(dir=audio_dir),
        max_duration_s=3600,
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    return audio_dir, entry.file
