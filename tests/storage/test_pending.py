"""Answers waiting for the airing log (storage/pending.py), with times passed in: kept in
order, tried again later and later, set aside in the spill file once the database stays down
or memory is full, and nothing more taken from the intake while neither can hold it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler import i18n
from ipfm_scheduler.core.traffic import IncomingMessage
from ipfm_scheduler.storage.pending import PendingAnswers
from ipfm_scheduler.storage.spill import SpillFile

T0 = datetime(2026, 11, 23, tzinfo=UTC)


class Intake:
    def __init__(self) -> None:
        self.waiting: list[IncomingMessage] = []

    def add(self, *names: str) -> None:
        self.waiting += [IncomingMessage(f"p/w/{n}/ack", n.encode()) for n in names]

    def take(self, limit: int) -> list[IncomingMessage]:
        taken, self.waiting = self.waiting[:limit], self.waiting[limit:]
        return taken


def payloads(batch_messages: list[IncomingMessage]) -> list[bytes]:
    return [m.payload for m in batch_messages]


def test_a_refused_batch_is_offered_again_first_after_a_growing_wait(tmp_path: Path) -> None:
    intake = Intake()
    pending = PendingAnswers(intake.take, SpillFile(tmp_path / "s"))
    intake.add("a", "b")
    first = pending.take(100, T0)
    assert payloads(first.messages) == [b"a", b"b"]
    pending.failed(T0)
    intake.add("c")
    assert pending.take(100, T0 + timedelta(seconds=0.5)).messages == []  # waits 1 s
    again = pending.take(100, T0 + timedelta(seconds=1))
    assert payloads(again.messages) == [b"a", b"b"]  # the same, first, as received at T0
    assert again.at == T0
    pending.failed(T0 + timedelta(seconds=1))
    assert pending.take(100, T0 + timedelta(seconds=2)).messages == []  # now 2 s
    third = pending.take(100, T0 + timedelta(seconds=3))
    pending.done(third)
    later = pending.take(100, T0 + timedelta(seconds=3))
    assert payloads(later.messages) == [b"c"]
    assert later.at == T0 + timedelta(seconds=0.5)


def test_while_the_database_is_down_a_full_memory_goes_to_the_spill_file(
    tmp_path: Path,
) -> None:
    intake = Intake()
    spill = SpillFile(tmp_path / "s")
    pending = PendingAnswers(intake.take, spill, max_count=3)
    intake.add("a", "b", "c", "d", "e")
    pending.failed(T0)  # the database is known to be down
    pending.take(100, T0)
    assert pending.waiting == 3  # the intake keeps the rest: memory is full
    pending.take(100, T0 + timedelta(seconds=0.1))
    assert pending.waiting == 2  # the first three went to the file, the rest came in
    assert spill.pending
    pending.done(pending.take(100, T0 + timedelta(seconds=1)))  # the database is back
    pending.done(pending.take(100, T0 + timedelta(seconds=1)))
    assert not spill.pending


def test_without_a_spill_file_answers_wait_in_bounded_memory() -> None:
    """The intake holds the rest meanwhile."""
    intake = Intake()
    pending = PendingAnswers(intake.take, None, max_count=2)
    intake.add("a", "b", "c")
    pending.take(100, T0)
    pending.failed(T0)
    later = pending.take(100, T0 + timedelta(seconds=20))
    assert payloads(later.messages) == [b"a", b"b"]  # kept, however long the database is away
    assert (pending.waiting, len(intake.waiting), pending.lost) == (2, 1, 0)
    pending.stop(T0 + timedelta(seconds=21))
    assert pending.lost == 3  # only at stop, with nowhere to set them aside: an ERROR line


def test_answers_lost_at_stop_are_counted_in_words_of_the_language_spoken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    said = {}
    for lang, names in (("vi", ("a", "b")), ("en", ("a",)), ("en ", ("a", "b"))):
        intake = Intake()
        pending = PendingAnswers(intake.take, None)
        intake.add(*names)
        i18n.set_language(lang.strip())
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="ipfm_scheduler.storage.pending"):
            pending.stop(T0)
        said[lang] = caplog.messages
    i18n.set_language("en")
    assert said["vi"] == [
        "2 phản hồi nhận từ các cụm loa đã bị mất (không có tệp lưu tạm): cụm loa sẽ gửi lại "
        "xác nhận (ack) gần nhất khi lệnh của nó được gửi lại"
    ]
    assert said["en"] == [
        "1 answer received from receivers is lost (no spill file): receivers repeat their "
        "latest ack when their command is sent again"
    ]
    assert said["en "] == [
        "2 answers received from receivers are lost (no spill file): receivers repeat their "
        "latest ack when their command is sent again"
    ]
