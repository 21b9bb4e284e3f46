"""The shipped, catalogued kh179 recording, served as receivers will fetch it."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from ipfm_scheduler.audio.catalogue import Catalogue, audio_url
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.settings import AudioFile
from ipfm_scheduler.service.http.server import HttpServer, audio_allow_list

ROOT = Path(__file__).resolve().parents[2]
AUDIO_DIR = ROOT / "audio"


def test_a_receiver_fetching_the_audio_url_gets_the_catalogued_bytes() -> None:
    """The simulated receiver: builds audio.url from base_url and the catalogue entry,
    downloads it, and checks the sha256 as docs/protocol.md requires."""
    catalogue = Catalogue.load(AUDIO_DIR)
    [entry] = catalogue.for_programme("kh179")
    with HttpServer("127.0.0.1", 0, audio=audio_allow_list(catalogue)) as server:
        url = audio_url(f"{server.url}/audio/", entry.sha256)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
    assert len(body) == entry.bytes
    assert hashlib.sha256(body).hexdigest() == entry.sha256


def test_the_allow_list_holds_the_catalogue_and_the_configured_programme_audio(
    tmp_path: Path,
) -> None:
    """A programme configured with `audio: kh179.mp3` (not named by its hash) is served at
    /audio/<its sha256>.mp3, from that file."""
    catalogue = Catalogue(tmp_path, Catalogue.load(AUDIO_DIR).entries)
    configured = AudioFile(tmp_path / "kh179.mp3", "e" * 64, 10, 1.0)
    allowed = audio_allow_list(catalogue, {"kh179": configured})
    assert allowed == {**catalogue.files(), "e" * 64: tmp_path / "kh179.mp3"}


@pytest.mark.parametrize("where", ["source/kh179.mp3", "../kh179.mp3", "link.mp3"])
def test_configured_audio_outside_the_audio_folder_itself_is_never_allowed(
    tmp_path: Path, where: str
) -> None:
    """Originals in audio/source/, a file beside the folder, or a link in it pointing there:
    none is served, whatever a programme says."""
    audio_dir = tmp_path / "audio"
    (audio_dir / "source").mkdir(parents=True)
    (audio_dir / "source" / "kh179.mp3").write_bytes(b"original")
    (tmp_path / "kh179.mp3").write_bytes(b"beside")
    (audio_dir / "link.mp3").symlink_to(audio_dir / "source" / "kh179.mp3")
    configured = AudioFile(audio_dir / where, "e" * 64, 8, 1.0)

    assert audio_allow_list(Catalogue(audio_dir), {"kh179": configured}) == {}


@pytest.mark.ffmpeg
def test_the_sample_station_airs_the_catalogued_file_and_never_its_original(
    ffmpeg: str,
) -> None:
    """config/ipfm.yaml's kh179 is the catalogued, normalised recording; the espeak-ng
    original in audio/source/ is not reachable over HTTP."""
    loaded = load(ROOT / "config" / "ipfm.yaml", today=date(2026, 11, 27), secrets=False)
    assert loaded.ok, loaded.problems
    assert loaded.station is not None
    catalogue = Catalogue.load(loaded.station.audio.dir)
    [entry] = catalogue.for_programme("kh179")
    aired = loaded.station.programme_audio["kh179"]
    assert (aired.path, aired.sha256) == (AUDIO_DIR / entry.file, entry.sha256)
    original = hashlib.sha256((AUDIO_DIR / "source" / "kh179.mp3").read_bytes()).hexdigest()
    assert original == entry.source_sha256

    allowed = audio_allow_list(catalogue, loaded.station.programme_audio)
    with HttpServer("127.0.0.1", 0, audio=allowed) as server:
        status_original = _status(f"{server.url}/audio/{original}.mp3")
        status_aired = _status(f"{server.url}/audio/{entry.sha256}.mp3")
    assert allowed == {entry.sha256: AUDIO_DIR / entry.file}
    assert (status_original, status_aired) == (404, 200)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
