"""The spill file of answers waiting for the database (storage/spill.py): in order, bounded,
resumed where the replay stood, and a record cut short by a crash ends the file."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler import i18n
from ipfm_scheduler.core.traffic import IncomingMessage
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage.spill import Spilled, SpillFile, _record

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def items(count: int, start: int = 0) -> list[Spilled]:
    return [
        Spilled(T0 + timedelta(seconds=i), IncomingMessage(f"p/w/r{i}/ack", b"x%d" % i, i % 2 == 0))
        for i in range(start, start + count)
    ]


def test_records_come_back_in_order_and_whole(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "s" / "answers.spill")
    cut = IncomingMessage("p/w/r/status", b"\xff" * 10, size=10**6, sha256="ab" * 32)
    assert spill.append([*items(3), Spilled(T0, cut)]) == 4
    read = [s for s, _ in spill.read(10)]
    assert read == [*items(3), Spilled(T0, cut)]


def test_a_restart_resumes_after_what_was_stored_and_an_emptied_file_is_removed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "answers.spill"
    spill = SpillFile(path)
    spill.append(items(5))
    first = spill.read(2)
    spill.consume(first[-1][1])
    again = SpillFile(path)  # the service restarts
    rest = again.read(10)
    assert [s for s, _ in rest] == items(3, start=2)
    again.consume(rest[-1][1])
    assert not path.exists()
    assert not again.pending


def test_a_record_cut_short_by_a_crash_ends_the_file_and_appending_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "answers.spill"
    SpillFile(path).append(items(3))
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 3)  # the last record was being written
    spill = SpillFile(path)
    assert [s for s, _ in spill.read(10)] == items(2)
    spill.append(items(1, start=7))
    assert [s for s, _ in spill.read(10)] == [*items(2), *items(1, start=7)]


def test_the_file_never_grows_beyond_its_bound_and_replayed_records_make_room(
    tmp_path: Path,
) -> None:
    spill = SpillFile(tmp_path / "answers.spill", max_bytes=1000)
    written = spill.append(items(100))
    assert 0 < written < 100
    assert spill.size <= 1000
    done = spill.read(written)
    spill.consume(done[written // 2][1])  # half of them stored
    assert spill.append(items(100, start=200)) > 0
    assert spill.size <= 1000
    left = [s for s, _ in spill.read(1000)]
    assert left[0] == items(1, start=written // 2 + 1)[0]


def test_the_damaged_record_warning_speaks_the_language_spoken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    said = {}
    for lang in ("vi", "en"):
        path = tmp_path / lang / "answers.spill"
        SpillFile(path).append(items(2))
        whole = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(whole - 3)
        i18n.set_language(lang)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ipfm_scheduler.storage.spill"):
            assert len(SpillFile(path).read(10)) == 1
        said[lang] = caplog.messages
    i18n.set_language("en")
    first = len(_record(items(1)[0]))
    assert said["vi"] == [
        f"tệp lưu tạm {tmp_path / 'vi' / 'answers.spill'} có một bản ghi hỏng tại byte {first} "
        f"(trên tổng {whole - 3}): tệp được cắt tại đó"
    ]
    assert said["en"] == [
        f"the spill file {tmp_path / 'en' / 'answers.spill'} has a damaged record at byte "
        f"{first} (of {whole - 3}): cut off there"
    ]


def test_a_spill_file_that_cannot_be_read_is_named_in_the_language_spoken(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    try:
        i18n.set_language("vi")
        with pytest.raises(StorageError, match=r"^không đọc được tệp lưu tạm .*answers\.spill: "):
            SpillFile(blocker / "answers.spill")
    finally:
        i18n.set_language("en")
    with pytest.raises(StorageError, match=r"^can't read the spill file .*answers\.spill: "):
        SpillFile(blocker / "answers.spill")
