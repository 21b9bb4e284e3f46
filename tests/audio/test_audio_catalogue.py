"""The catalogue file and `check`, without ffmpeg (entries are built by hand)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler.audio.catalogue import (
    Catalogue,
    CatalogueEntry,
    FileState,
    audio_url,
    check,
    update,
)
from ipfm_scheduler.errors import AudioError, ValueInvalid

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def stored(audio_dir: Path, content: bytes, programme: str = "kh179") -> CatalogueEntry:
    """Write ``content`` as a stored MP3 and return an entry describing it."""
    sha = hashlib.sha256(content).hexdigest()
    audio_dir.mkdir(parents=True, exist_ok=True)
    (audio_dir / f"{sha}.mp3").write_bytes(content)
    return CatalogueEntry(
        programme=programme,
        title="Kế hoạch 179",
        sha256=sha,
        bytes=len(content),
        duration_s=85.2,
        loudness_lufs=-16.0,
        true_peak_dbtp=-1.6,
        loudness_range_lu=2.3,
        target_lufs=-16.0,
        target_true_peak_db=-1.5,
        bitrate_kbps=64,
        sample_rate=44100,
        normalisation="linear",
        limiter_gain_db=None,
        source_name="kh179.wav",
        source_sha256=hashlib.sha256(b"source " + content).hexdigest(),
        source_bytes=1000,
        source_format="wav/pcm_s16le",
        added_at=NOW,
    )


def test_entries_survive_a_round_trip_through_the_file(tmp_path: Path) -> None:
    """What is saved is what is loaded, Vietnamese titles included."""
    a, b = stored(tmp_path, b"one"), stored(tmp_path, b"two", "kh179-b")
    Catalogue(tmp_path, (a, b)).save()
    assert Catalogue.load(tmp_path).entries == (a, b)
    assert "Kế hoạch 179" in (tmp_path / "catalogue.json").read_text(encoding="utf-8")


def test_a_directory_without_a_catalogue_has_an_empty_one(tmp_path: Path) -> None:
    """No catalogue.json yet: nothing catalogued, nothing served."""
    assert Catalogue.load(tmp_path).entries == ()
    assert Catalogue.load(tmp_path).files() == {}


def test_a_broken_catalogue_is_reported_with_its_line_and_never_overwritten(
    tmp_path: Path,
) -> None:
    """Invalid JSON: the error names file, line and column; the file stays as it was."""
    path = tmp_path / "catalogue.json"
    path.write_text('{"version": 1,\n "entries": [,]}\n', encoding="utf-8")
    with pytest.raises(AudioError, match=r"catalogue.json:2:14: the catalogue is not valid JSON"):
        update(tmp_path, lambda c: c)
    assert path.read_text(encoding="utf-8") == '{"version": 1,\n "entries": [,]}\n'


def test_an_entry_with_a_bad_field_is_named(tmp_path: Path) -> None:
    """An entry that does not validate is reported by its index and problem."""
    entry = stored(tmp_path, b"x").to_json()
    entry["sha256"] = "NOT-HEX"
    document = {"version": 1, "entries": [entry]}
    (tmp_path / "catalogue.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(AudioError, match=r"entries\[0\]: sha256 must be 64 lowercase hex"):
        Catalogue.load(tmp_path)


def test_entries_validate_themselves(tmp_path: Path) -> None:
    """An entry with a naive time or an invalid programme id cannot be built."""
    entry = stored(tmp_path, b"x")
    with pytest.raises(ValueInvalid, match="UTC offset"):
        dataclasses.replace(entry, added_at=datetime(2026, 1, 1))
    with pytest.raises(ValueInvalid, match="programme id"):
        dataclasses.replace(entry, programme="KH 179")


def test_a_new_import_of_the_same_source_replaces_the_old_entry(tmp_path: Path) -> None:
    """Same source, programme and target: one entry, the newer; other programmes stay."""
    old = stored(tmp_path, b"x")
    other = stored(tmp_path, b"y", "kh179-b")
    newer = dataclasses.replace(old, added_at=NOW + timedelta(days=1))
    catalogue = Catalogue(tmp_path, (old, other)).with_entry(newer)
    assert catalogue.entries == (other, newer)


def test_concurrent_updates_lose_no_entry(tmp_path: Path) -> None:
    """Imports finishing at the same time each add their entry (the directory lock)."""
    entries = [stored(tmp_path, f"file {i}".encode()) for i in range(12)]
    start = threading.Barrier(len(entries))

    def add(entry: CatalogueEntry) -> None:
        start.wait(timeout=10)
        update(tmp_path, lambda c: c.with_entry(entry))

    threads = [threading.Thread(target=add, args=(e,)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert {e.sha256 for e in Catalogue.load(tmp_path).entries} == {e.sha256 for e in entries}


def test_check_finds_changed_missing_and_linked_files(tmp_path: Path) -> None:
    """check re-hashes each file: a changed byte, a deleted file and a symlink are reported;
    files nobody catalogued and leftovers of an interrupted import are listed apart."""
    ok, changed, missing, linked = (stored(tmp_path, bytes([i]) * 100) for i in range(4))
    (tmp_path / changed.file).write_bytes(b"\x01" * 99 + b"\x02")
    (tmp_path / missing.file).unlink()
    target = tmp_path / "elsewhere.bin"
    (tmp_path / linked.file).rename(target)
    (tmp_path / linked.file).symlink_to(target)
    (tmp_path / "kh179.mp3").write_bytes(b"original")
    (tmp_path / ".ipfm-import-abc.mp3").write_bytes(b"half")

    report = check(Catalogue(tmp_path, (ok, changed, missing, linked)))

    states = {f.entry.sha256: f.state for f in report.files}
    assert states == {
        ok.sha256: FileState.OK,
        changed.sha256: FileState.CHANGED,
        missing.sha256: FileState.MISSING,
        linked.sha256: FileState.NOT_A_FILE,
    }
    [changed_check] = [f for f in report.files if f.state is FileState.CHANGED]
    assert changed_check.found_sha256 == hashlib.sha256(b"\x01" * 99 + b"\x02").hexdigest()
    assert not report.ok
    assert report.unlisted == ("kh179.mp3",)
    assert report.leftovers == (".ipfm-import-abc.mp3",)


def test_check_of_an_intact_catalogue_is_ok(tmp_path: Path) -> None:
    entries = tuple(stored(tmp_path, bytes([i]) * 10) for i in range(3))
    report = check(Catalogue(tmp_path, entries))
    assert report.ok
    assert report.count(FileState.OK) == 3


def test_files_maps_each_sha256_to_its_stored_file(tmp_path: Path) -> None:
    """The HTTP allow-list from the catalogue: sha256 -> <audio dir>/<sha256>.mp3."""
    entry = stored(tmp_path, b"abc")
    assert Catalogue(tmp_path, (entry,)).files() == {entry.sha256: tmp_path / entry.file}
    assert entry.audio_file(tmp_path).path == tmp_path / entry.file


def test_audio_url_joins_the_base_url_and_the_file_name() -> None:
    """audio.base_url with or without a trailing slash gives the same URL."""
    sha = "a" * 64
    expected = f"https://cdn.example/ipfm/audio/{sha}.mp3"
    assert audio_url("https://cdn.example/ipfm/audio", sha) == expected
    assert audio_url("https://cdn.example/ipfm/audio/", sha) == expected
