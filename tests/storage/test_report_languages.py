"""`report`, `log` and `status` in Vietnamese and English (issue 14, items 1 and 2), run as a
user runs them on a real database: the table and the text in the language chosen, dates
dd/mm/yyyy in Vietnamese; the CSV's header row by language, its cells and its form (one row per
receiver, UTF-8 with a BOM) the same; JSON byte for byte the same in both languages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ipfm_scheduler import i18n
from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.verdicts import Reason
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import VN, World
from tests.storage.test_storage_cli import BOM, Run, recorded_week, run

ROOT = Path(__file__).resolve().parents[2]
WEEK = "2025-W48"


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    i18n.set_language("en")


def by_locale(tmp_path: Path) -> dict[str, str]:
    """The environment of a Vietnamese desk: LANG=vi_VN.UTF-8, no $IPFM_LANG, no --lang, and no
    station file that says a language (so the locale decides)."""
    return {
        "LANG": "vi_VN.UTF-8",
        "IPFM_LANG": "",
        "LC_ALL": "",
        "LC_MESSAGES": "",
        "IPFM_CONFIG": str(tmp_path / "no-station-file.yaml"),
    }


def test_report_table_reads_in_vietnamese_from_the_locale(db_url: str, tmp_path: Path):
    recorded_week(db_url)
    result = run("report", "--week", WEEK, "--format", "table", "--database", db_url,
                 env=by_locale(tmp_path))  # fmt: skip
    assert result.code == 1
    text = result.text
    assert text.startswith(
        "Tuần 2025-W48: từ Thứ Hai 24/11/2025 đến Chủ Nhật 30/11/2025 (Asia/Ho_Chi_Minh), đã chốt"
    )
    header = text.splitlines()[2].split("  ")
    assert [h.strip() for h in header if h.strip()][:3] == ["phường", "tên", "chương trình"]
    assert "KHÔNG ĐẠT" in text
    assert "cam-trung/loa-02: không đạt: 1 lệnh: lỗi (device)" in text
    assert "cua-ong/loa-01: không đạt: không có lượt phát nào theo lịch" in text
    assert "2 cặp phường/chương trình: 2 không đạt" in text
    assert "2025-11-2" not in text  # no ISO date left for a person to read
    assert "tuần 2025-W48 không đạt: cam-trung/kh179, cua-ong/kh179" in result.err


def test_report_table_in_english_is_as_before(db_url: str, tmp_path: Path):
    recorded_week(db_url)
    result = run("--lang", "en", "report", "--week", WEEK, "--database", db_url,
                 env=by_locale(tmp_path))  # fmt: skip
    assert result.text.startswith(
        "Week 2025-W48: Monday 2025-11-24 to Sunday 2025-11-30 (Asia/Ho_Chi_Minh), finished"
    )
    assert "cam-trung/loa-02: short: 1 command: failed (device)" in result.text


def both(*args: str) -> tuple[Run, Run]:
    """``ARGS`` run with ``--lang vi`` and with ``--lang en``."""
    return run("--lang", "vi", *args), run("--lang", "en", *args)


def test_json_is_byte_identical_in_both_languages(db_url: str):
    recorded_week(db_url)
    cases = [
        ("report", "--week", WEEK, "--format", "json"),
        ("report", "--week", "2025-W40", "--format", "json"),  # nothing recorded: its message
        ("log", "--format", "json"),
    ]
    for args in cases:
        vi, en = both(*args, "--database", db_url)
        assert (vi.code, vi.out) == (en.code, en.out), args
    vi, _en = both("report", "--week", WEEK, "--format", "json", "--database", db_url)
    assert '"reason": "1 command: failed (device)"' in vi.text
    empty, _en = both("report", "--week", "2025-W40", "--format", "json", "--database", db_url)
    assert '"message": "nothing recorded for week 2025-W40 (all wards)' in empty.text
    assert "không có gì được ghi nhận cho tuần 2025-W40" in empty.err  # the person reads it


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    assert data.count(b"\r\n") == data.count(b"\n")  # CRLF line ends, as Excel writes them
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_headers_follow_the_language_and_the_cells_do_not(db_url: str, tmp_path: Path):
    recorded_week(db_url)
    vi, en = both("report", "--week", WEEK, "--format", "csv", "--database", db_url)
    (vi_head, *vi_rows), (en_head, *en_rows) = csv_rows(vi.out), csv_rows(en.out)
    assert en_head[:4] == ["week", "ward", "ward_name", "programme"]
    assert vi_head[:4] == ["tuần", "phường", "tên phường", "chương trình"]
    assert vi_head[-5:] == ["hoàn thành", "chưa xác thực", "kết luận", "lý do", "đầu chuỗi nhật ký"]
    assert len(vi_head) == len(en_head) == len(set(vi_head))
    assert vi_rows == en_rows  # codes, counts and reasons as JSON gives them
    assert [(r[1], r[11], r[16]) for r in vi_rows] == [  # one row per receiver
        ("cam-trung", "loa-01", "compliant"),
        ("cam-trung", "loa-02", "short"),
        ("cua-ong", "loa-01", "short"),
    ]
    log_vi, log_en = both("log", "--format", "csv", "--database", db_url)
    (log_vi_head, *log_vi_rows), (log_en_head, *log_en_rows) = (
        csv_rows(log_vi.out),
        csv_rows(log_en.out),
    )
    assert (log_en_head[0], log_vi_head[0]) == ("planned_local", "giờ phát theo lịch")
    assert log_vi_rows == log_en_rows
    assert log_vi_rows[0][0] == "2025-11-24T06:00:00+07:00"  # ISO 8601: a spreadsheet parses it
    written = tmp_path / "w48.csv"
    run("--lang", "vi", "report", "--week", WEEK, "--format", "csv", "-o", str(written),
        "--database", db_url)  # fmt: skip
    assert written.read_bytes() == vi.out


def test_log_table_reads_in_vietnamese_from_the_locale(db_url: str, tmp_path: Path):
    recorded_week(db_url)
    env = by_locale(tmp_path)
    table = run("log", "--ward", "cam-trung", "--database", db_url, env=env)
    assert table.code == 0
    head, *rows = table.text.splitlines()
    assert head.split()[:4] == ["giờ", "theo", "lịch", "phường"]
    loa_01 = next(r for r in rows if "loa-01" in r)
    assert loa_01.startswith("24/11/2025 06:00:00+07:00  cam-trung  kh179")
    assert "theo lịch" in loa_01
    assert "hoàn thành" in loa_01
    assert "24/11/2025 05:58" in loa_01  # sent at, dd/mm/yyyy
    assert "lỗi" in next(r for r in rows if "loa-02" in r)
    assert rows[-1] == "2 dòng (giờ theo Asia/Ho_Chi_Minh)"
    empty = run("log", "--from", "2027-01-01", "--database", db_url, env=env)
    assert empty.text == "không có lượt phát nào được ghi nhận (từ 01/01/2027 00:00)\n"
    unknown = run("log", "--ward", "cam-trungg", "--database", db_url, env=env)
    assert unknown.code == 2
    assert "cơ sở dữ liệu này không biết phường cam-trungg" in unknown.err


# --- status -----------------------------------------------------------------------------------


@pytest.fixture
def station(tmp_path: Path) -> Path:
    """The sample station file without its `language:` (so the locale decides), its wards and
    audio beside it, and a database with today's airing: loa-01 completed, loa-02 failed."""
    config = tmp_path / "config"
    config.mkdir()
    text = (ROOT / "config" / "ipfm.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^language:.*\n", "", text)
    (config / "ipfm.yaml").write_text(text, encoding="utf-8")
    (config / "wards").symlink_to(ROOT / "config" / "wards")
    (tmp_path / "audio").symlink_to(ROOT / "audio")
    (tmp_path / "var").mkdir()
    engine = open_engine(f"sqlite:///{tmp_path / 'var' / 'ipfm.db'}")
    upgrade(engine)
    world = World(Repository(engine))
    today = datetime.now(UTC).astimezone(VN).date()
    _, (one, two) = world.airing(day=today, hour=0, minute=1)
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    world.answer("cam-trung", "loa-02", two, AckStatus.FAILED, detail="device")
    engine.dispose()
    return config / "ipfm.yaml"


def _times_masked(data: bytes) -> bytes:
    """The JSON with its clock times masked: two runs are a few seconds apart."""
    return re.sub(rb"\d\d:\d\d:\d\d", b"hh:mm:ss", data)


def test_status_reads_in_vietnamese_from_the_locale(station: Path, tmp_path: Path):
    env = by_locale(tmp_path) | {"IPFM_CONFIG": str(station)}
    result = run("status", env=env)
    assert result.code == 0, result.err
    now = datetime.now(UTC).astimezone(VN)
    first = result.text.splitlines()[0]
    assert first.startswith(f"{_weekday_vi(now)}, {now:%d/%m/%Y} ")
    assert "(tuần " in first
    for words in (
        "dịch vụ: KHÔNG chạy",
        "các lượt phát sắp tới:",
        "mức đạt của tuần này đến nay",
        "yêu cầu phát bằng `air` trong 24 giờ qua",
    ):
        assert words in result.text, words
    assert f"{now:%Y-%m-%d}" not in result.text  # no ISO date left for a person to read


def _weekday_vi(moment: datetime) -> str:
    i18n.set_language("vi")
    try:
        return i18n.weekday_name(moment)
    finally:
        i18n.set_language("en")


def test_status_json_is_the_same_in_both_languages(station: Path):
    args = ("--config", str(station), "status", "--format", "json")
    vi, en = both(*args)
    assert (vi.code, en.code) == (0, 0)
    assert _times_masked(vi.out) == _times_masked(en.out)
    assert '"why": "the service is not running"' in vi.text


# --- the reasons, in words --------------------------------------------------------------------


def test_a_reason_is_stored_in_english_and_read_in_the_language_spoken():
    offline = datetime(2026, 11, 23, 5, 58, tzinfo=VN)
    missed = (datetime(2026, 11, 24, 6, 0, tzinfo=VN), datetime(2026, 11, 25, 6, 0, tzinfo=VN))
    reason = Reason(
        1,
        2,
        final=True,
        aired=True,
        sent=True,
        unfinished=((CommandState.EXPIRED, None), (CommandState.FAILED, "device")),
        missed=missed,
        offline_since=offline,
        makeups=3,
    )
    english = (
        "1 of 2 completed; offline since 2026-11-23 05:58; 2 commands: expired, failed (device); "
        "2 airings missed while the service was not running (2026-11-24 06:00, 2026-11-25 06:00)"
        "; 3 make-ups tried, the most a week gets"
    )
    i18n.set_language("vi")
    assert str(reason) == english  # what the week's closing record keeps, in any language
    assert reason.words() == (
        "hoàn thành 1/2; mất kết nối từ 23/11/2026 05:58; 2 lệnh: hết hạn, lỗi (device); "
        "2 lượt phát bị lỡ khi dịch vụ không chạy (24/11/2026 06:00, 25/11/2026 06:00); "
        "đã thử 3 lần phát bù, mức tối đa mỗi tuần"
    )
    i18n.set_language("en")
    assert reason.words() == english
    unfinished = ((CommandState.PENDING, None), (CommandState.SENT, None))
    waiting = Reason(0, 1, final=False, aired=True, sent=True, unfinished=unfinished, missed=())
    i18n.set_language("vi")
    assert waiting.words() == "2 lệnh: broker MQTT chưa nhận, đã gửi, không có phản hồi"
    assert str(waiting) == "2 commands: not yet accepted by the broker, sent, no answer"


def test_status_text_says_reasons_and_health_in_vietnamese_and_its_json_in_english():
    """The view `status` gathers is its JSON: reasons and health in English there, in the
    language spoken in the text."""
    from ipfm_scheduler.cli.status_text import Said, render_text

    reason = Reason(0, 1, final=False, aired=True, sent=True, missed=(),
                    unfinished=((CommandState.FAILED, "device"),))  # fmt: skip
    view = {
        "now": "2026-12-05 06:30:00 +0700",
        "week": "2026-W49",
        "service": {
            "running": True, "host": "srv", "pid": 7, "version": "1",
            "started_at": "2026-12-04 23:00:00 +0700", "last_beat_at": "2026-12-05 06:29:58 +0700",
            "health": {"checked": False, "why": Said("it runs on {host}, not on {here}",
                                                     host="srv", here="desk")},
        },
        "receivers": {"enabled": 2, "online": 1, "never_heard": [], "clock_off": [],
                      "offline": [{"ward": "cam-trung", "receiver": "loa-02",
                                   "since": "2026-12-04 21:15:00 +0700"}]},
        "next_airings": [{"start": "2026-12-06 06:00:00 +0700", "ward": "cam-trung",
                          "programme": "kh179", "origin": "makeup", "receivers": 1,
                          "stored": True}],
        "compliance": [{"ward": "cam-trung", "programme": "kh179", "minimum": 1, "enabled": 2,
                        "confirmed": 1, "short": {"loa-02": reason}}],
        "waiting": {"counts": {"sent": 1}, "oldest": [], "stored_for_later": 0,
                    "next_sent_at": None},
        "requests": [],
    }  # fmt: skip
    i18n.set_language("en")
    english_json = json.dumps(view, indent=2, ensure_ascii=False, default=str)
    english = render_text(view)
    i18n.set_language("vi")
    assert json.dumps(view, indent=2, ensure_ascii=False, default=str) == english_json
    assert '"loa-02": "1 command: failed (device)"' in english_json
    assert '"why": "it runs on srv, not on desk"' in english_json
    text = render_text(view)
    assert text.splitlines()[0] == "Thứ Bảy, 05/12/2026 06:30:00 +0700 (tuần 2026-W49)"
    assert "tình trạng: không rõ: dịch vụ chạy trên srv, không phải trên desk" in text
    assert "mất kết nối: cam-trung/loa-02 từ 04/12/2026 21:15:00 +0700" in text
    assert "06/12/2026 06:00:00 +0700  cam-trung    kh179    phát bù   1 cụm loa" in text
    assert "      loa-02: 1 lệnh: lỗi (device)" in text
    assert "lệnh đang chờ phản hồi: 1 (1 đã gửi)" in text
    assert english.splitlines()[0] == "2026-12-05 06:30:00 +0700 (week 2026-W49)"
    assert "      loa-02: 1 command: failed (device)" in english
