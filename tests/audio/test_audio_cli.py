"""`ipfm-scheduler audio add|list|check`, run as a technician runs them: the console script in
a subprocess, in a folder that holds a station (config/ipfm.yaml, its wards, an audio folder)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sample import copy_sample

pytestmark = pytest.mark.ffmpeg
SCRIPT = Path(sys.executable).parent / "ipfm-scheduler"
ROOT = Path(__file__).resolve().parents[2]
#: what config/ipfm.yaml airs for kh179
SAMPLE_FILE = "d49eace7f4195683fdc0faa737ca5ccdf924dd2fbb1d157afc4ce4738babbbf5.mp3"
TITLE = "Kế hoạch 179-KH/TU: Người Việt Nam ưu tiên dùng hàng Việt Nam"

WARD = """\
id: cam-trung
name: Phường Cẩm Trung
receivers:
  - id: loa-01
windows:
  - days: [mon, tue, wed, thu, fri, sat, sun]
    from: "06:00"
    to: "{to}"
airings:
  - programme: kh179
    days: [mon, thu]
    at: "06:00"
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


@dataclass
class Site:
    """A technician's folder: config/ipfm.yaml (the sample station, one ward), audio/."""

    root: Path

    @property
    def station(self) -> Path:
        return self.root / "config" / "ipfm.yaml"

    @property
    def audio(self) -> Path:
        return self.root / "audio"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(*args, cwd=self.root)

    def edit_station(self, old: str, new: str) -> None:
        text = self.station.read_text(encoding="utf-8")
        assert old in text
        self.station.write_text(text.replace(old, new, 1), encoding="utf-8")

    def ward(self, text: str) -> None:
        wards = self.root / "config" / "wards"
        shutil.rmtree(wards)
        wards.mkdir()
        (wards / "cam-trung.yaml").write_text(text, encoding="utf-8")

    def catalogue(self, audio_dir: Path | None = None) -> list[dict[str, object]]:
        path = (audio_dir or self.audio) / "catalogue.json"
        entries: list[dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))["entries"]
        return entries


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """The sample station with one ward (window 06:00-07:00) and an empty audio folder: its
    kh179 recording is not there yet (a new station), which `audio add` must not mind."""
    copy_sample(tmp_path, audio=False)
    (tmp_path / "audio").mkdir()
    made = Site(tmp_path)
    made.ward(WARD.format(to="07:00"))
    return made


@pytest.fixture(scope="module")
def long_wav(make_audio: Callable[..., None], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """61 s of tone: longer than a one-minute window."""
    path = tmp_path_factory.mktemp("long") / "long.wav"
    make_audio("-f", "lavfi", "-i", "sine=f=440:d=61:r=8000", "-ac", "1", str(path))
    return path


def test_add_uses_the_station_folder_title_and_settings(media: Path, site: Site) -> None:
    """With no option but the programme, `audio add` stores into the station's audio.dir,
    normalises to its audio.loudness_lufs, takes the programme's title from the station file
    and prints the line to set there."""
    site.edit_station("  base_url: http", "  loudness_lufs: -20\n  base_url: http")

    done = site.run("audio", "add", str(media / "speech.wav"), "--programme", "kh179")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    [stored] = site.audio.glob("*.mp3")
    [entry] = site.catalogue()
    assert (entry["title"], entry["target_lufs"], entry["file"]) == (TITLE, -20.0, stored.name)
    lines = done.stdout.splitlines()
    assert lines[0] == f"added speech.wav for programme kh179 as {stored.name}"
    assert "LUFS (target -20.0)" in done.stdout
    assert lines[-2:] == [
        "in the station file config/ipfm.yaml, under programmes: kh179:, set",
        f"  audio: {stored.name}",
    ]


def test_add_again_says_it_is_already_catalogued_and_aired(media: Path, site: Site) -> None:
    """Once the station file names the file, a second import says the station airs it."""
    first = site.run("audio", "add", str(media / "speech.ogg"), "-p", "kh179")
    stored = first.stdout.splitlines()[-1].split()[-1]
    site.edit_station(f"    audio: {SAMPLE_FILE}", f"    audio: {stored}")

    again = site.run("audio", "add", str(media / "speech.ogg"), "-p", "kh179")

    assert first.returncode == again.returncode == 0, again.stderr
    assert again.stdout.startswith("speech.ogg is already in the catalogue for kh179 (added ")
    assert again.stdout.splitlines()[-1] == (
        "the station file config/ipfm.yaml already airs this recording for kh179"
    )


def test_a_recording_longer_than_every_ward_window_is_refused(long_wav: Path, site: Site) -> None:
    """Too long means longer than the longest window of any valid ward (here 06:00-06:01)."""
    site.ward(WARD.format(to="06:01"))
    done = site.run("audio", "add", str(long_wav), "-p", "kh179")
    assert done.returncode == 6
    assert done.stderr == (
        f"ipfm-scheduler: cannot import {long_wav}: it lasts 1:01 (61.0 s), longer than the "
        "longest window (1:00, 60 s): it could never air in full\n"
    )
    assert list(site.audio.iterdir()) == []


def test_without_a_valid_ward_the_longest_possible_window_is_used_with_a_warning(
    long_wav: Path, site: Site
) -> None:
    site.ward(WARD.format(to="25:00"))  # the only ward file is invalid
    done = site.run("audio", "add", str(long_wav), "-p", "kh179")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "ipfm-scheduler: warning: no ward file is valid (1 ward file; `ipfm-scheduler "
        "validate` says why): the recording is checked against the longest window a ward can "
        "have (23 h 59 min)\n"
    )
    assert len(site.catalogue()) == 1


def test_a_programme_the_station_does_not_declare_is_refused(media: Path, site: Site) -> None:
    """A typo in the programme id is caught before any work; nothing is written."""
    done = site.run("audio", "add", str(media / "speech.wav"), "-p", "kh197")
    assert done.returncode == 2
    assert (
        '"kh197" is not a programme of the station file config/ipfm.yaml (did you mean '
        '"kh179"?); its programmes: kh179. To import a recording for a programme you will add '
        "to it afterwards, add --new-programme"
    ) in done.stderr
    assert list(site.audio.iterdir()) == []


def test_a_new_programme_is_imported_when_said_so(media: Path, site: Site) -> None:
    done = site.run("audio", "add", str(media / "speech.m4a"), "-p", "kh200", "--new-programme")
    assert done.returncode == 0, done.stderr
    [entry] = site.catalogue()
    assert (entry["programme"], entry["title"]) == ("kh200", "speech")
    assert done.stdout.splitlines()[-4:] == [
        "in the station file config/ipfm.yaml, under programmes:, add",
        "  kh200:",
        '    title: "speech"',
        f"    audio: {entry['file']}",
    ]


def test_an_unusable_station_file_stops_the_command_with_its_problems(
    media: Path, site: Site
) -> None:
    """The audio section cannot be read (its folder does not exist): exit 3, every problem
    of the station file listed, and how to go on without it."""
    site.edit_station("  dir: ../audio", "  dir: ../sounds")
    done = site.run("audio", "add", str(media / "speech.wav"), "-p", "kh179")
    assert done.returncode == 3
    assert done.stdout == ""
    head, *problems = done.stderr.splitlines()
    assert head == (
        "ipfm-scheduler: the station file config/ipfm.yaml cannot give the audio settings and "
        "the programmes (1 problem; fix it, or give --audio-dir DIR to work without the "
        "station file):"
    )
    assert problems == [
        f"  ipfm.yaml:17:8: audio.dir: the folder {site.root / 'sounds'} does not exist"
    ]


def test_with_audio_dir_a_command_works_without_the_station_file(media: Path, site: Site) -> None:
    """No station file at all, but --audio-dir: a warning, then the defaults."""
    elsewhere = site.root / "elsewhere"
    elsewhere.mkdir()
    store = site.root / "store"
    done = cli("audio", "add", str(media / "speech.flac"), "-p", "kh179", "--title", "Kế hoạch",
               "--audio-dir", str(store), cwd=elsewhere)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "ipfm-scheduler: warning: the station file config/ipfm.yaml cannot be used (1 problem; "
        f"`ipfm-scheduler validate` lists it): working in {store} with the default audio "
        "settings, any programme id, and the longest window a ward can have (23 h 59 min)\n"
    )
    assert done.stdout.splitlines()[-2:][0] == "in the station file, under programmes: kh179:, set"
    [entry] = site.catalogue(store)
    assert (entry["title"], entry["target_lufs"]) == ("Kế hoạch", -16.0)


def test_audio_dir_overrides_the_station_folder_and_says_so(media: Path, site: Site) -> None:
    store = site.root / "store"
    done = site.run("audio", "add", str(media / "speech.mp3"), "-p", "kh179",
                    "--audio-dir", str(store))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list(site.audio.iterdir()) == []
    [entry] = site.catalogue(store)
    assert entry["title"] == TITLE  # the station file is still read
    assert (
        f"note: {store} is not the station's audio folder {site.audio} (audio.dir): the "
        "station airs only what is imported there"
    ) in done.stdout.splitlines()


def test_a_refusal_is_one_line_on_stderr_with_exit_code_6(media: Path, site: Site) -> None:
    """RET_AUDIO (6), one plain line, nothing on stdout, nothing written."""
    done = site.run("audio", "add", str(media / "notes.mp3"), "-p", "kh179")
    assert done.returncode == 6
    assert done.stdout == ""
    assert done.stderr.startswith(f"ipfm-scheduler: cannot import {media / 'notes.mp3'}: it is")
    assert done.stderr.count("\n") == 1
    assert list(site.audio.iterdir()) == []


def test_a_bad_programme_id_is_a_usage_error(media: Path, site: Site) -> None:
    done = site.run("audio", "add", str(media / "speech.wav"), "-p", "Kế hoạch")
    assert done.returncode == 2
    assert "is not a programme id (1 to 64 characters of a-z" in done.stderr


def test_list_shows_the_station_catalogue_as_table_and_json(media: Path, site: Site) -> None:
    """`audio list` reads the station's audio.dir; it does not read the ward files (a broken
    one brings no warning)."""
    site.run("audio", "add", str(media / "speech.flac"), "-p", "kh179")
    site.ward(WARD.format(to="25:00"))

    table = site.run("audio", "list")
    as_json = site.run("audio", "list", "--format", "json")

    assert table.returncode == as_json.returncode == 0
    assert table.stderr == as_json.stderr == ""
    document = json.loads(as_json.stdout)
    [entry] = document["entries"]
    assert document["audio_dir"] == str(site.audio)
    header, row = table.stdout.splitlines()
    assert header.split()[:6] == ["PROGRAMME", "ADDED", "LENGTH", "LOUDNESS", "PEAK", "FILE"]
    assert row.startswith("kh179 ")
    assert row.endswith(f"{entry['file']}  {TITLE}")


def test_list_of_an_empty_catalogue_says_how_to_fill_it(site: Site) -> None:
    done = site.run("audio", "list")
    assert done.returncode == 0
    assert "is empty; add a recording with `ipfm-scheduler audio add FILE" in done.stdout


def test_a_lost_catalogue_is_not_called_empty(media: Path, site: Site) -> None:
    """catalogue.json deleted while the recordings it listed remain: `check` fails and `list`
    says so (both said, exit 0, that there was nothing to check)."""
    site.run("audio", "add", str(media / "speech.wav"), "-p", "kh179")
    (site.audio / "catalogue.json").unlink()

    checked = site.run("audio", "check")
    listed = site.run("audio", "list")

    lost = f"the catalogue {site.audio / 'catalogue.json'} is missing, while 1 recording that"
    assert checked.returncode == 1
    assert lost in checked.stderr
    assert listed.returncode == 0
    assert lost in listed.stderr
    assert "is empty" not in listed.stdout


def test_check_passes_then_fails_when_a_file_changes(media: Path, site: Site) -> None:
    """`audio check` exits 0 on an intact catalogue, 1 once a stored file is altered."""
    site.run("audio", "add", str(media / "speech.wav"), "-p", "kh179")
    [stored] = site.audio.glob("*.mp3")

    intact = site.run("audio", "check")
    with stored.open("r+b") as f:  # one byte flipped, as a failing disk would
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    damaged = site.run("audio", "check")
    stored.unlink()
    gone = site.run("audio", "check")

    assert intact.returncode == 0
    assert intact.stdout.splitlines()[0] == f"OK         kh179  {stored.name}"
    assert damaged.returncode == 1
    assert f"CHANGED    kh179  {stored.name}: its content changed: sha256 is now " in (
        damaged.stdout
    )
    assert damaged.stderr == (
        f"ipfm-scheduler: 1 of 1 catalogued files in {site.audio} is missing or changed "
        "(listed above); receivers cannot play it\n"
    )
    assert gone.returncode == 1
    assert f"MISSING    kh179  {stored.name}: not in {site.audio}; import the recording" in (
        gone.stdout
    )
