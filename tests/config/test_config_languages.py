"""`validate`, `plan` and `schema` in Vietnamese and in English (issue 14), as a user runs
them: the language from --lang, the station file's language:, or the locale alone; the
summaries, tables and plurals; machine-readable output the same bytes in both languages.
(Every kind of problem, one by one: test_config_languages_kinds.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ipfm_scheduler import i18n
from ipfm_scheduler.config.loader import _WardJob
from ipfm_scheduler.config.receiver_file import load_receiver
from ipfm_scheduler.config.ward_file import AIRING
from ipfm_scheduler.core.model import DEFAULT_VOLUME
from ipfm_scheduler.errors import ConfigError
from tests.config.conftest import KH179_AUDIO, TODAY
from tests.config.speaking import assert_translated, problems_of, run, speak_english

if TYPE_CHECKING:
    from tests.config.conftest import Station

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config" / "ipfm.yaml"
WARD_IDS = sorted(p.stem for p in (ROOT / "config" / "wards").glob("*.yaml"))
pytestmark = pytest.mark.usefixtures("ffmpeg")
TIME_EN = (
    'wards/cam-trung.yaml:25:9: airings[1].at: "25:00" is not a time of day (HH:MM, '
    "00:00–23:59); hours go from 00 to 23 (midnight is 00:00)"
)
TIME_VI = (
    'wards/cam-trung.yaml:25:9: airings[1].at: "25:00" không phải là giờ trong ngày (HH:MM, '
    "00:00–23:59); giờ đi từ 00 đến 23 (nửa đêm là 00:00)"
)


@pytest.fixture(autouse=True)
def _english_after():  # type: ignore[no-untyped-def]
    yield
    speak_english()


@pytest.fixture
def no_language(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No --lang and nothing in the environment says a language (tests/conftest.py sets
    IPFM_LANG=en for the others)."""
    for name in ("IPFM_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_located_problem_in_vietnamese_and_in_english(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    """Done-when: `--lang vi validate` on a ward with at: "25:00" prints the located problem
    in Vietnamese (file:line:column and key path unchanged), `--lang en` in English; the option
    may also follow the command's name."""
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    vi = run(capsys, "--lang", "vi", "--config", str(station.path), "validate")
    en = run(capsys, "--config", str(station.path), "validate", "--lang", "en")
    assert vi.code == en.code == 3
    assert TIME_VI in vi.out.splitlines()
    assert TIME_EN in en.out.splitlines()
    assert "is not a time of day" not in vi.out
    assert "Phường hợp lệ (15 trên 16)" in vi.out
    assert "Tệp phường có lỗi (1): cam-trung (cam-trung.yaml)" in vi.out
    assert (
        "KHÔNG HỢP LỆ: 1 lỗi trong 1 tệp; không được khởi chạy gì cho đến khi sửa xong." in vi.out
    )
    assert vi.err == "ipfm-scheduler: cấu hình không hợp lệ (1 lỗi)\n"
    assert "Valid wards (15 of 16)" in en.out
    assert "NOT VALID: 1 problem in 1 file; nothing may be started until they are fixed." in en.out
    assert en.err == "ipfm-scheduler: the configuration is not valid (1 problem)\n"


def test_validate_json_is_the_same_bytes_in_both_languages(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    station.edit_ward("cam-son", "    days: [sat]", "    days: [T7]")  # a note ("read as") too
    args = ("--config", str(station.path), "validate", "--format", "json")
    vi, en = run(capsys, "--lang", "vi", *args), run(capsys, "--lang", "en", *args)
    assert vi.out == en.out
    assert vi.code == en.code == 3
    report = json.loads(vi.out)
    assert [p["message"] for p in report["problems"]] == [TIME_EN.split("at: ", 1)[1]]
    assert report["read_as"][0]["message"] == '"T7" read as sat'
    assert {row["verdict"] for row in report["weekly"]} == {"ok"}
    text = run(capsys, "--lang", "vi", "--config", str(station.path), "validate")
    assert_translated(
        run(capsys, "--config", str(station.path), "validate"), text, report["problems"]
    )
    assert '"T7" được đọc là sat' in text.out
    assert "Được đọc là (ngày trong tuần và ngày tháng ghi theo cách khác" in text.out


def test_the_locale_alone_speaks_vietnamese(
    capsys: pytest.CaptureFixture[str], station: Station, no_language: pytest.MonkeyPatch
) -> None:
    """Done-when: LANG=vi_VN.UTF-8 alone (no --lang, IPFM_LANG unset or empty, the station
    file without language:) gives Vietnamese; without it, English."""
    station.edit_station("language: vi", "")
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    args = ("--config", str(station.path), "validate")
    assert TIME_EN in run(capsys, *args).out.splitlines()
    no_language.setenv("LANG", "vi_VN.UTF-8")
    assert TIME_VI in run(capsys, *args).out.splitlines()
    no_language.setenv("IPFM_LANG", "")
    assert TIME_VI in run(capsys, *args).out.splitlines()
    no_language.setenv("LC_ALL", "C")  # the first of LC_ALL, LC_MESSAGES, LANG decides
    assert TIME_EN in run(capsys, *args).out.splitlines()


def test_the_station_files_language_decides_when_nothing_else_does(
    capsys: pytest.CaptureFixture[str], station: Station, no_language: pytest.MonkeyPatch
) -> None:
    no_language.setenv("LANG", "en_US.UTF-8")
    result = run(capsys, "--config", str(station.path), "validate")  # the sample: language: vi
    assert result.code == 0, result.out
    assert f"Phường hợp lệ (16 trên 16): {', '.join(WARD_IDS)}" in result.out
    assert "ĐẠT: cấu hình hợp lệ (16 phường, 1 chương trình)." in result.out
    assert "Số lượt phát mỗi tuần theo lịch của từng phường" in result.out
    assert "  phường      chương trình  tối thiểu  tuần này (" in result.out
    no_language.setenv("IPFM_LANG", "en")
    english = run(capsys, "--config", str(station.path), "validate")
    assert "OK: the configuration is valid (16 wards, 1 programme)." in english.out


def test_plan_in_vietnamese_names_weekdays_and_writes_dd_mm_yyyy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("--config", str(SAMPLE), "plan", "--week", "2027-W05")
    vi = run(capsys, "--lang", "vi", *args)
    assert vi.code == 0, vi.err
    lines = vi.out.splitlines()
    assert lines[0] == (
        "Lịch phát tuần 2027-W05 (Thứ Hai 01/02/2027 đến Chủ Nhật 07/02/2027), giờ địa phương "
        "Asia/Ho_Chi_Minh:"
    )
    assert (
        "  ngày                giờ    phường      chương trình  khung giờ kết thúc  âm lượng"
        in (lines)
    )
    assert "  Thứ Tư 03/02/2027   06:00  cam-son     kh179         06:15               80" in lines
    assert "Mức tối thiểu mỗi tuần trong tuần 2027-W05:" in lines
    assert "  cam-son     kh179         1          1          đạt       áp dụng" in lines
    assert "2027-02-03" not in vi.out
    assert "Wed" not in vi.out
    en = run(capsys, "--lang", "en", *args)
    assert "  Wed 2027-02-03  06:00  cam-son     kh179      06:15        80" in en.out.splitlines()
    as_json = [run(capsys, "--lang", lang, *args, "--format", "json").out for lang in ("vi", "en")]
    assert as_json[0] == as_json[1]
    assert json.loads(as_json[0])["airings"][0]["day"] == "2027-02-01"


def test_plan_says_in_vietnamese_which_wards_it_left_out(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    result = run(
        capsys, "--lang", "vi", "--config", str(station.path), "plan", "--week", "2026-W48"
    )
    assert result.code == 3
    assert result.err == (
        "ipfm-scheduler: cấu hình có 1 lỗi; bị bỏ ra: cam-trung (cam-trung.yaml); chạy "
        "`ipfm-scheduler validate` để xem\n"
    )
    unknown = run(capsys, "--lang", "vi", "--config", str(SAMPLE), "plan", "--ward", "cam-trug")
    assert unknown.code == 2
    assert 'không có phường "cam-trug" (có phải ý bạn là "cam-trung"?)' in unknown.err


def test_the_summaries_in_vietnamese_when_the_station_file_is_broken(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    station.edit_station("timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Nowhere")
    result = run(capsys, "--lang", "vi", "--config", str(station.path), "validate")
    assert result.code == 3
    assert (
        "Số lượt mỗi tuần: chưa có cho đến khi đọc được múi giờ (timezone) và các chương trình "
        "của tệp cấu hình đài."
    ) in result.out
    assert "Phường đã đọc, chưa đối chiếu với đài (16 trên 16):" in result.out


def test_a_programme_that_cannot_be_read_in_vietnamese(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    station.edit_station(KH179_AUDIO, "    audio: nope.mp3")
    result = run(capsys, "--lang", "vi", "--config", str(station.path), "validate")
    assert (
        "Số lượt mỗi tuần: chưa có cho đến khi đọc được chương trình kh179 của tệp cấu hình đài "
        "(xem các lỗi ở trên)."
    ) in result.out


def test_a_warning_in_vietnamese(capsys: pytest.CaptureFixture[str], station: Station) -> None:
    audio_dir = station.folder.parent / "audio"
    shutil.copy(audio_dir / "source" / "kh179.mp3", audio_dir / "kh179.mp3")
    station.edit_station(KH179_AUDIO, "    audio: kh179.mp3")
    result = run(capsys, "--lang", "vi", "--config", str(station.path), "validate")
    assert result.code == 0, result.out
    assert (
        "\ncảnh báo: chương trình kh179: âm thanh kh179.mp3: tệp không có trong danh mục âm "
        "thanh, nên độ lớn âm thanh chưa từng được chuẩn hóa; nhập bản ghi âm bằng "
        "`ipfm-scheduler audio add FILE --programme kh179`"
    ) in result.out


def test_schema_is_the_same_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON Schema is for editors: its descriptions stay English."""
    vi, en = (run(capsys, "--lang", lang, "schema").out for lang in ("vi", "en"))
    assert vi == en
    assert "the receiver's id, unique in the ward" in vi


def test_the_volumes_meaning_names_its_default() -> None:
    """Its help is written out (a message must be a literal to be translated)."""
    key = AIRING.key("volume")
    assert key is not None
    assert f"(default {DEFAULT_VOLUME})" in key.help


def test_a_ward_file_read_in_another_process_speaks_the_callers_language(
    one_ward: Station,
) -> None:
    """A fresh ("spawn") process speaks English until told: the job carries the language."""
    one_ward.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    job = _WardJob(one_ward.folder, {}, frozenset({"kh179"}), None, TODAY, "vi")
    read = job(one_ward.ward_path("cam-trung.yaml"))
    assert [p.message for p in read.reader.problems] == [TIME_VI.split("at: ", 1)[1]]
    assert problems_of('{"problems": []}') == []


def test_plan_without_a_usable_station_file_lists_the_problems_in_vietnamese(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    station.edit_station("timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Nowhere")
    vi = run(capsys, "--lang", "vi", "--config", str(station.path), "plan")
    assert vi.code == 3
    assert vi.err.startswith("ipfm-scheduler: 1 lỗi trong cấu hình:\n  ipfm.yaml:")
    assert '"Asia/Nowhere" không phải là múi giờ đã biết' in vi.err
    en = run(capsys, "--lang", "en", "--config", str(station.path), "plan")
    assert en.err.startswith("ipfm-scheduler: 1 problem in the configuration:\n  ipfm.yaml:")


def test_a_receivers_file_in_vietnamese(tmp_path: Path) -> None:
    """receiver.yaml is read with the same kinds and words (ipfm-receiver shows them)."""
    path = tmp_path / "receiver.yaml"
    path.write_text(
        "ward: cam-trung\nreceiver: loa-01\noutput: speaker\ncache:\n  max_mb: lots\n",
        encoding="utf-8",
    )
    i18n.set_language("vi")
    with pytest.raises(ConfigError) as caught:
        load_receiver(path, environ={})
    assert [str(p) for p in caught.value.problems] == [
        'receiver.yaml:3:9: output: "speaker" không phải là đầu ra âm thanh: ghi alsa:DEVICE '
        "(alsa:default), pulse, pulse:SINK hoặc file:FOLDER",
        'receiver.yaml:5:11: cache.max_mb: "lots" không phải là một số nguyên từ 1 đến 1000000',
    ]
    i18n.set_language("en")
    with pytest.raises(ConfigError) as caught:
        load_receiver(path, environ={})
    assert str(caught.value.problems[0]).endswith(
        '"speaker" is not an output: write alsa:DEVICE (alsa:default), pulse, pulse:SINK or '
        "file:FOLDER"
    )
