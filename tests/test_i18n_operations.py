"""The operators' side in Vietnamese (docs/translation.md): `db`, `audio`, the help of every
command, the service's log lines and `ipfm-receiver`; English stays as it was."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipfm_scheduler import i18n
from ipfm_scheduler.audio.catalogue import Catalogue
from ipfm_scheduler.cli import cli, main
from ipfm_scheduler.cli.exitcodes import RET_CONFIG, RET_DATABASE
from ipfm_scheduler.cli.language import help_texts
from ipfm_scheduler.cli.receiver_main import main as receiver_main
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.errors import NotAirable, StorageError
from ipfm_scheduler.service.daemon import Daemon
from ipfm_scheduler.service.timer import Guard
from ipfm_scheduler.storage.memory import MemoryLog
from ipfm_scheduler.storage.migrate import head_revision
from tests.audio.test_audio_catalogue import stored
from tests.core.factories import ward, weekly
from tests.service.fake_mqtt import FakeOutbox
from tests.service.helpers import MONDAY, Rig, local, make_plan
from tests.service.test_daemon import Configs, Manager, manager, rig, start

__all__ = ["manager", "rig"]  # the fixtures of tests/service/test_daemon.py, used here too


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    i18n.set_language("en")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``ipfm-scheduler ARGS`` as the console script runs it (errors become exit codes)."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return Run(int(done.value.code or 0), captured.out, captured.err)


def test_db_upgrade_and_check_speak_the_chosen_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ipfm.db'}"
    head = head_revision()

    created = run(capsys, "--lang", "vi", "db", "upgrade", "--database", url)
    again = run(capsys, "db", "upgrade", "--database", url, "--lang", "vi")
    checked = run(capsys, "--lang", "vi", "db", "check", "--database", url)
    english = run(capsys, "--lang", "en", "db", "upgrade", "--database", url)

    assert created.code == 0, created.err
    assert created.out == (
        f"cơ sở dữ liệu {url}: đã nâng cấp từ lược đồ trống lên {head} (mới nhất)\n"
    )
    assert again.out == (f"cơ sở dữ liệu {url}: đã ở lược đồ {head} (mới nhất); không cần làm gì\n")
    assert checked.out == (
        f"cơ sở dữ liệu {url}: lược đồ {head}, mới nhất {head}\nđã cập nhật mới nhất\n"
    )
    assert english.out == (
        f"database {url}: already at schema {head} (the latest); nothing to do\n"
    )


def test_a_missing_or_empty_database_is_explained_in_vietnamese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    empty = tmp_path / "empty.db"
    empty.touch()

    gone = run(capsys, "--lang", "vi", "db", "check", "--database", f"sqlite:///{missing}")
    behind = run(capsys, "--lang", "vi", "db", "check", "--database", f"sqlite:///{empty}")
    gone_en = run(capsys, "--lang", "en", "db", "check", "--database", f"sqlite:///{missing}")

    assert gone.code == behind.code == gone_en.code == RET_DATABASE
    assert gone.err == (
        f"ipfm-scheduler: tệp cơ sở dữ liệu {missing} không tồn tại: hãy kiểm tra đường dẫn, "
        "hoặc chạy `ipfm-scheduler db upgrade` để tạo\n"
    )
    assert (
        f"ipfm-scheduler: cơ sở dữ liệu sqlite:///{empty} đang ở lược đồ phiên bản trống (chưa "
        f"có lược đồ), chương trình này cần {head_revision()}; hãy chạy `ipfm-scheduler db "
        "upgrade` trước\n"
    ) in behind.err
    assert gone_en.err.startswith(f"ipfm-scheduler: the database file {missing} does not exist")


def test_audio_list_and_check_speak_vietnamese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    no_station = str(tmp_path / "absent.yaml")
    base = ("--config", no_station, "--lang", "vi", "audio")

    empty = run(capsys, *base, "list", "--audio-dir", str(audio))
    entry = stored(audio, b"a recording")
    Catalogue(audio, (entry,)).save()
    listed = run(capsys, *base, "list", "--audio-dir", str(audio))
    checked = run(capsys, *base, "check", "--audio-dir", str(audio))
    (audio / entry.file).unlink()
    broken = run(capsys, *base, "check", "--audio-dir", str(audio))
    broken_en = run(capsys, "--config", no_station, "audio", "check", "--audio-dir", str(audio))

    assert empty.code == 0, empty.err
    assert empty.err.startswith(
        f"ipfm-scheduler: cảnh báo: không dùng được tệp cấu hình đài {no_station} ("
    )
    assert empty.out == (
        f"danh mục trong {audio} đang trống; hãy thêm bản ghi bằng "
        "`ipfm-scheduler audio add FILE --programme ID`\n"
    )
    header = listed.out.splitlines()[0].split()
    assert header == [
        "CHƯƠNG",
        "TRÌNH",
        "NGÀY",
        "THÊM",
        "THỜI",
        "LƯỢNG",
        "ĐỘ",
        "TO",
        "ĐỈNH",
        "TỆP",
        "TÊN",
    ]
    assert checked.code == 0, checked.err
    assert checked.out.splitlines()[-1] == (
        f"đã kiểm tra 1 tệp trong danh mục ở {audio}: 1 tốt, 0 thiếu, 0 đã đổi, 0 không phải tệp"
    )
    assert broken.code == 1
    assert f"THIẾU      kh179  {entry.file}: không có trong {audio}; hãy nhập lại" in broken.out
    assert broken.err.splitlines()[-1] == (
        f"ipfm-scheduler: 1 trên 1 tệp trong danh mục ở {audio} bị thiếu hoặc đã thay đổi "
        "(liệt kê ở trên); cụm loa không phát được"
    )
    assert broken_en.out.splitlines()[-1] == (
        f"1 catalogued file checked in {audio}: 0 ok, 1 missing, 0 changed, 0 not-a-file"
    )


def test_the_help_of_every_command_reads_in_vietnamese() -> None:
    runner = CliRunner(env={"IPFM_LANG": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": ""})
    shown = runner.invoke(cli, ["--lang", "vi", "run", "--help"]).output
    english = runner.invoke(cli, ["--lang", "en", "run", "--help"]).output
    receiver = runner.invoke(receiver_main, ["--lang", "vi", "--help"]).output

    assert "Chạy dịch vụ cho đến khi có SIGTERM hoặc Ctrl-C" in shown
    assert "Lên lịch thêm một lần phát cho mỗi phường sau 15 giây" in shown
    assert "Run the service until SIGTERM or Ctrl-C" in english
    assert "Phát những gì dịch vụ ipfm-scheduler ra lệnh trên cụm loa này" in receiver
    assert "Kiểm tra tệp và cho biết tệp thiết lập gì; không chạy gì." in receiver
    i18n.set_language("vi")
    for command in (cli, receiver_main):
        untranslated = [
            where for text, where in help_texts(command) if i18n._(text) == text and text.strip()
        ]
        assert not untranslated, untranslated


def test_the_service_warns_in_vietnamese_when_it_runs_in_vietnamese(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox],
    manager: Manager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reload that changes the broker: the WARNING that it applies after a restart."""
    i18n.set_language("vi")
    daemon, configs, _, _ = rig
    start(daemon)
    manager.expect("READY=1")
    station = configs.good.station
    assert station is not None
    moved = dataclasses.replace(station, mqtt=dataclasses.replace(station.mqtt, port=1884))
    configs.current = LoadedConfig(moved, configs.good.schedule, {}, ())
    with caplog.at_level(logging.INFO):
        daemon.signals.request_reload()
        manager.expect("RELOADING=1")
        manager.expect("READY=1")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "nạp lại: thiết lập mqtt đã thay đổi; chỉ có hiệu lực sau khi khởi động lại "
        "(systemctl restart ipfm-scheduler)"
    ) in warnings
    assert "đã nạp lại cấu hình: 1 phường" in caplog.messages


def _receiver(*args: str, lang_env: str = "en") -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("ipfm-receiver")
    env = {**os.environ, "IPFM_LANG": lang_env}
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_ipfm_receiver_checks_its_file_in_vietnamese(tmp_path: Path) -> None:
    good = tmp_path / "receiver.yaml"
    good.write_text("ward: cam-trung\nreceiver: loa-01\noutput: file:wav\nstate_dir: state\n")
    chosen_in_file = tmp_path / "vi.yaml"
    chosen_in_file.write_text(good.read_text() + "language: vi\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ward: cam-trung\n")

    valid = _receiver("--lang", "vi", "--config", str(good), "--check")
    from_file = _receiver("--config", str(chosen_in_file), "--check", lang_env="")
    invalid = _receiver("--config", str(bad), "--check", "--lang", "vi")
    english = _receiver("--config", str(good), "--check")

    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith(f"{good}: hợp lệ: cụm loa cam-trung/loa-01, broker ")
    assert f"đầu ra file:{tmp_path / 'wav'}, bộ nhớ đệm " in valid.stdout
    assert valid.stdout.endswith(", KHÔNG có khoá ký\n")
    assert from_file.stdout.startswith(f"{chosen_in_file}: hợp lệ: "), from_file.stderr
    assert invalid.returncode == RET_CONFIG
    assert invalid.stderr.startswith("1 lỗi trong cấu hình:\n  bad.yaml:1:1: ")
    assert english.stdout.startswith(f"{good}: valid: receiver cam-trung/loa-01, broker ")
    assert english.stdout.endswith(", NO signing key\n")


def test_a_failing_step_is_named_in_the_language_spoken_and_keyed_in_english(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The timer's step names are keys (``last_error["heartbeat"]`` feeds /healthz): the log
    line names the step in Vietnamese, the key stays."""
    i18n.set_language("vi")
    guard = Guard()

    def step() -> None:
        raise StorageError("the database did not answer")

    with caplog.at_level(logging.ERROR):
        assert not guard("heartbeat", step)
        assert guard("heartbeat", lambda: None)
    assert caplog.messages[0] == "tín hiệu sống thất bại: the database did not answer"
    assert guard.last_error == {}
    assert guard.failures["heartbeat"] == 1


def test_a_programme_without_audio_is_stored_in_english_and_logged_in_vietnamese() -> None:
    """A manual request's refusal keeps the English text (stored); the log line speaks."""
    i18n.set_language("vi")
    exc = NotAirable("cam-trung", "kh179", "2026-12-05 06:00+07:00")
    assert str(exc) == (
        "ward cam-trung: programme kh179 has no audio in the configuration; airing at "
        "2026-12-05 06:00+07:00 not sent"
    )
    assert exc.shown() == (
        "phường cam-trung: chương trình kh179 không có âm thanh trong cấu hình; lần phát lúc "
        "2026-12-05 06:00+07:00 không được gửi"
    )


def test_a_missed_airing_is_warned_in_vietnamese_with_its_date_as_dd_mm_yyyy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a stop, each airing whose window closed meanwhile: a WARNING in the language
    spoken, its time written as Vietnamese write it (the English line is in test_new_log)."""
    plan = make_plan(ward(weekly("mon,tue", "06:00")))
    first = Rig(plan, local(MONDAY, "05:58"))
    first.tick()  # Monday's airing recorded: the log is no longer new
    i18n.set_language("vi")
    restarted = Rig(plan, local(MONDAY + timedelta(days=1), "07:00"), log=first.log)
    with caplog.at_level(logging.INFO):
        restarted.tick()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    (airing,) = [a for a in restarted.log.airings.values() if a.outcome is not None]
    assert warnings == [
        "phường cam-trung: kh179 lúc 24/11/2026 06:00 +07:00 bị bỏ lỡ: khung giờ đã kết thúc "
        f"khi dịch vụ không chạy (lần phát #{airing.id})"
    ]
