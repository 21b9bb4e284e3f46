"""`ipfm-scheduler audio add|list|check`, run as a technician runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ffmpeg
SCRIPT = Path(sys.executable).parent / "ipfm-scheduler"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def test_add_prints_the_line_for_the_station_file(media: Path, tmp_path: Path) -> None:
    """`audio add` imports, describes the result and prints `audio: <sha256>.mp3`."""
    done = cli("audio", "add", str(media / "speech.wav"), "--programme", "kh179", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    [stored] = (tmp_path / "audio").glob("*.mp3")  # ./audio is the default directory
    lines = done.stdout.splitlines()
    assert lines[0] == f"added speech.wav for programme kh179 as {stored.name}"
    assert "LUFS (target -16.0)" in done.stdout
    assert lines[-2:] == [
        "in the station file, under programmes: kh179:, set",
        f"  audio: {stored.name}",
    ]


def test_add_again_says_it_is_already_catalogued(media: Path, tmp_path: Path) -> None:
    first = cli("audio", "add", str(media / "speech.ogg"), "-p", "kh179", cwd=tmp_path)
    again = cli("audio", "add", str(media / "speech.ogg"), "-p", "kh179", cwd=tmp_path)
    assert first.returncode == again.returncode == 0
    assert again.stdout.startswith("speech.ogg is already in the catalogue for kh179 (added ")
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]


def test_a_refusal_is_one_line_on_stderr_with_exit_code_6(media: Path, tmp_path: Path) -> None:
    """RET_AUDIO (6), one plain line, nothing on stdout, nothing written."""
    done = cli("audio", "add", str(media / "notes.mp3"), "-p", "kh179", cwd=tmp_path)
    assert done.returncode == 6
    assert done.stdout == ""
    assert done.stderr.startswith(f"ipfm-scheduler: cannot import {media / 'notes.mp3'}: it is")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "audio").exists()


def test_a_bad_programme_id_is_a_usage_error(media: Path, tmp_path: Path) -> None:
    done = cli("audio", "add", str(media / "speech.wav"), "-p", "Kế hoạch", cwd=tmp_path)
    assert done.returncode == 2
    assert "is not a programme id (1 to 64 characters of a-z" in done.stderr


def test_list_shows_the_catalogue_as_table_and_json(media: Path, tmp_path: Path) -> None:
    audio_dir = tmp_path / "store"
    cli("audio", "add", str(media / "speech.flac"), "-p", "kh179", "--title", "Kế hoạch 179",
        "--audio-dir", str(audio_dir), cwd=tmp_path)  # fmt: skip

    table = cli("audio", "list", "--audio-dir", str(audio_dir), cwd=tmp_path)
    as_json = cli("audio", "list", "--format", "json", "--audio-dir", str(audio_dir), cwd=tmp_path)

    [entry] = json.loads(as_json.stdout)["entries"]
    header, row = table.stdout.splitlines()
    assert header.split()[:6] == ["PROGRAMME", "ADDED", "LENGTH", "LOUDNESS", "PEAK", "FILE"]
    assert row.startswith("kh179 ")
    assert row.endswith(f"{entry['file']}  Kế hoạch 179")
    assert entry["programme"] == "kh179"


def test_list_of_an_empty_catalogue_says_how_to_fill_it(tmp_path: Path) -> None:
    done = cli("audio", "list", cwd=tmp_path)
    assert done.returncode == 0
    assert "is empty; add a recording with `ipfm-scheduler audio add FILE" in done.stdout


def test_check_passes_then_fails_when_a_file_changes(media: Path, tmp_path: Path) -> None:
    """`audio check` exits 0 on an intact catalogue, 1 once a stored file is altered."""
    cli("audio", "add", str(media / "speech.wav"), "-p", "kh179", cwd=tmp_path)
    [stored] = (tmp_path / "audio").glob("*.mp3")

    intact = cli("audio", "check", cwd=tmp_path)
    with stored.open("r+b") as f:  # one byte flipped, as a failing disk would
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    damaged = cli("audio", "check", cwd=tmp_path)
    stored.unlink()
    gone = cli("audio", "check", cwd=tmp_path)

    assert intact.returncode == 0
    assert intact.stdout.splitlines()[0] == f"OK         kh179  {stored.name}"
    assert damaged.returncode == 1
    assert f"CHANGED    kh179  {stored.name}: its content changed: sha256 is now " in (
        damaged.stdout
    )
    assert damaged.stderr == (
        "ipfm-scheduler: 1 of 1 catalogued files in audio are missing or changed (listed "
        "above); receivers cannot play them\n"
    )
    assert gone.returncode == 1
    assert f"MISSING    kh179  {stored.name}: not in audio; import the recording again" in (
        gone.stdout
    )
