"""The shipped, catalogued kh179 recording, served as receivers will fetch it."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from ipfm_scheduler.audio import Catalogue, audio_url
from ipfm_scheduler.config.settings import AudioFile
from ipfm_scheduler.service.http import HttpServer, audio_allow_list

AUDIO_DIR = Path(__file__).resolve().parents[2] / "audio"


def test_a_receiver_fetching_the_audio_url_gets_the_catalogued_bytes() -> None:
    """The simulated receiver: builds audio.url from base_url and the catalogue entry,
    downloads it, and checks the sha256 as receiver-protocol.md requires."""
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
    catalogue = Catalogue.load(AUDIO_DIR)
    configured = AudioFile(tmp_path / "kh179.mp3", "e" * 64, 10, 1.0)
    allowed = audio_allow_list(catalogue, {"kh179": configured})
    assert allowed == {**catalogue.files(), "e" * 64: tmp_path / "kh179.mp3"}
