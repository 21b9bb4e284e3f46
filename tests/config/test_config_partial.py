"""What the loader keeps of a station file with problems (for commands that need only part of
it, such as the audio commands), loading without the ward files, and programme audio that must
be a file of audio.dir itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipfm_scheduler.config.settings import DeclaredProgramme
from tests.config.conftest import KH179_AUDIO, KH179_FILE

if TYPE_CHECKING:
    from tests.config.conftest import Station


def test_the_audio_section_and_programmes_survive_other_problems(station: Station) -> None:
    """A broken MQTT URL and a missing recording make the station invalid, but its audio
    settings and declared programmes (with titles) are still given."""
    station.edit_station("  url: mqtt://127.0.0.1:1883", "  url: http://127.0.0.1:1883")
    station.edit_station(KH179_AUDIO, "    audio: missing.mp3")
    station.edit_station("  base_url: http", "  loudness_lufs: -18\n  base_url: http")

    loaded = station.load()

    assert loaded.station is None
    assert loaded.audio is not None
    assert (loaded.audio.dir, loaded.audio.loudness_lufs) == (station.folder.parent / "audio", -18)
    assert loaded.declared == {
        "kh179": DeclaredProgramme(
            "Kế hoạch 179-KH/TU: Người Việt Nam ưu tiên dùng hàng Việt Nam", "missing.mp3"
        )
    }


def test_an_unreadable_audio_section_gives_none(station: Station) -> None:
    station.edit_station("  dir: ../audio", "  dir: ../nowhere")
    loaded = station.load()
    assert loaded.audio is None
    assert loaded.declared is not None
    assert any(p.path == "audio.dir" for p in loaded.problems)


def test_a_programme_without_a_readable_title_is_still_declared(station: Station) -> None:
    station.edit_station(
        '    title: "Kế hoạch 179-KH/TU: Người Việt Nam ưu tiên dùng hàng Việt Nam"',
        "    title: [not, a, title]",
    )
    assert station.load().declared == {"kh179": DeclaredProgramme("", KH179_FILE)}


def test_without_wards_only_the_station_file_is_read(station: Station) -> None:
    """wards=False: no ward file read, and no problem that only the ward files could settle
    (an empty ward list, a signing key for an unknown ward)."""
    station.ward_path("cam-trung.yaml").write_text("id: [broken\n", encoding="utf-8")
    station.edit_station(
        "dispatch:",
        "signing:\n  wards:\n    cam-trung: {kid: k1, key_env: NOPE}\ndispatch:",
    )

    loaded = station.load(wards=False, secrets=False)

    assert loaded.ward_files == {}
    assert loaded.problems == ()
    assert loaded.schedule is not None
    assert loaded.schedule.wards == {}
    assert loaded.station is not None


def test_programme_audio_must_be_a_file_of_audio_dir_itself(station: Station) -> None:
    """Originals kept in a sub-folder (audio/source/) are never served to receivers, so a
    programme cannot point there."""
    source = station.folder.parent / "audio" / "source"
    source.mkdir(exist_ok=True)
    (source / "kh179.mp3").write_bytes(b"original")
    station.edit_station(KH179_AUDIO, "    audio: source/kh179.mp3")

    problems = station.problems()

    assert problems[0].startswith("ipfm.yaml:40:12: programmes.kh179.audio: ")
    assert problems[0].endswith(
        '"source/kh179.mp3" is not a file name: name a file of the audio folder '
        f"{station.folder.parent / 'audio'} (audio.dir) itself, without a folder; files in "
        "its sub-folders (such as source/, the originals) are not served to receivers"
    )
