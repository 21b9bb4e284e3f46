"""service/aside.py: the PUBACKs of a big send recorded on a thread of their own (PostgreSQL):
in order, bounded, drained before anything reads what they change, failures said in the log.

The ``Aside`` alone, with a ``record`` the test holds back; then the sender and dispatcher with
it, on fakes (the real PostgreSQL runs it in the e2e tests and in ``bench.national``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service import dispatch, jobs, sender
from ipfm_scheduler.service.aside import Aside
from ipfm_scheduler.service.jobs import Dispatcher
from ipfm_scheduler.service.ports import SendOutcome, SendResult
from tests.service.helpers import PREFIX
from tests.service.test_sender import _Answering, wide_rig

WAIT = 10.0
NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


def results(*ids: str) -> list[SendResult]:
    return [SendResult(cid, SendOutcome.PUBACK) for cid in ids]


class HeldBack:
    """A ``record`` that writes down each batch (and its thread), and waits for ``go`` first."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Event()
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail: dict[str, Exception] = {}  # first id of a batch -> what recording it raises

    def __call__(self, batch: Sequence[SendResult], now: datetime) -> None:
        self.started.set()
        assert self.go.wait(WAIT)
        self.threads.add(threading.current_thread().name)
        first = batch[0].command_id
        if first in self.fail:
            raise self.fail[first]
        self.batches.append([r.command_id for r in batch])


def test_put_returns_at_once_and_batches_are_written_in_order_on_another_thread() -> None:
    record = HeldBack()
    aside = Aside(record)
    try:
        aside.put(results("a", "b"), NOW)
        aside.put(results("c"), NOW)
        aside.put([], NOW)  # nothing to hand over
        assert record.started.wait(WAIT)
        assert aside.waiting == 3  # handed over, not written: the caller went on
        assert record.batches == []
        record.go.set()
        aside.drain()
        assert aside.waiting == 0
        assert record.batches == [["a", "b"], ["c"]]
        assert record.threads == {name for name in record.threads if "ipfm-pubacks" in name}
        assert threading.current_thread().name not in record.threads
    finally:
        record.go.set()
        aside.close()


def test_past_the_bound_put_waits_for_the_oldest_batches() -> None:
    record = HeldBack()
    aside = Aside(record, bound=3)
    returned = threading.Event()

    def hand_over_more() -> None:
        aside.put(results("c", "d"), NOW)  # 4 would wait: past the bound of 3
        returned.set()

    try:
        aside.put(results("a", "b"), NOW)
        assert record.started.wait(WAIT)
        more = threading.Thread(target=hand_over_more)
        more.start()
        assert not returned.wait(0.3)  # held while the first batch is not written
        record.go.set()
        assert returned.wait(WAIT)
        more.join(WAIT)
        assert aside.waiting <= 3
        aside.drain()
        assert record.batches == [["a", "b"], ["c", "d"]]
    finally:
        record.go.set()
        aside.close()


def test_a_batch_the_database_refuses_is_said_and_the_next_ones_are_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = HeldBack()
    record.fail["a"] = StorageError("the database at db.example is not answering")
    record.go.set()
    aside = Aside(record)
    try:
        with caplog.at_level(logging.WARNING, logger="ipfm_scheduler.service.aside"):
            aside.put(results("a", "b"), NOW)
            aside.put(results("c"), NOW)
            aside.drain()
        assert record.batches == [["c"]]
        (line,) = [r.getMessage() for r in caplog.records]
        assert "2" in line
        assert "not answering" in line
        assert caplog.records[0].levelno == logging.WARNING
    finally:
        aside.close()


def test_a_bug_while_recording_is_logged_with_its_trace(caplog: pytest.LogCaptureFixture) -> None:
    record = HeldBack()
    record.fail["a"] = KeyError("bug")
    record.go.set()
    aside = Aside(record)
    try:
        with caplog.at_level(logging.ERROR, logger="ipfm_scheduler.service.aside"):
            aside.put(results("a"), NOW)
            aside.drain()
        (entry,) = caplog.records
        assert entry.exc_info is not None
        assert entry.exc_info[0] is KeyError
    finally:
        aside.close()


def test_close_writes_what_waits_and_stops_the_thread() -> None:
    record = HeldBack()
    record.go.set()
    aside = Aside(record)
    aside.put(results("a"), NOW)
    aside.close()
    assert record.batches == [["a"]]
    assert not any(t.name.startswith("ipfm-pubacks") for t in threading.enumerate())


def test_a_big_dispatch_with_pubacks_aside_sends_each_once_and_records_everything(
    monkeypatch: Any,
) -> None:
    """The sender and dispatcher with the aside thread (as on PostgreSQL): the PUBACKs are
    recorded on that thread; before answers are recorded and before the airing log is asked
    what to send, nothing waits for it; at the step's end, nothing does either."""
    monkeypatch.setattr(dispatch, "STORE_BATCH", 5)
    monkeypatch.setattr(sender, "MEANWHILE_EVERY_S", 0.0)
    monkeypatch.setattr(jobs, "BEAT_EVERY_S", 0.0)
    rig = wide_rig(20)
    rig.outbox = _Answering(PREFIX, rig.now)
    rig.dispatcher = d = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now, records_aside=True)
    aside = d.sender.aside
    assert aside is not None
    recorded_on: set[str] = set()
    waiting_when: list[tuple[str, int]] = []
    record_sends, receive = rig.log.record_sends, d.answers.receive
    commands_to_send = rig.log.commands_to_send

    def spy_record(batch: Any, *, now: datetime) -> None:
        recorded_on.add(threading.current_thread().name)
        record_sends(batch, now=now)

    def spy_receive(*args: Any, **kwargs: Any) -> int:
        waiting_when.append(("receive", aside.waiting))
        return receive(*args, **kwargs)

    def spy_to_send(*args: Any, **kwargs: Any) -> Any:
        waiting_when.append(("to send", aside.waiting))
        return commands_to_send(*args, **kwargs)

    monkeypatch.setattr(rig.log, "record_sends", spy_record)
    monkeypatch.setattr(rig.log, "commands_to_send", spy_to_send)
    monkeypatch.setattr(d.answers, "receive", spy_receive)
    try:
        d.dispatch_due(rig.now)
        assert aside.waiting == 0  # drained at the step's end
        assert CommandState.RECEIVED in [c.state for c in rig.log.commands.values()]
        d.send(rig.now)
        assert aside.waiting == 0
        d.receive(rig.now)
        assert len(rig.outbox.published) == 20  # each once
        assert all(c.state is CommandState.RECEIVED for c in rig.log.commands.values())
        rig.outbox.ack_all()  # the PUBACKs the fake broker still held
        d.send(rig.now)
        assert aside.waiting == 0
        assert len(rig.outbox.published) == 20
        assert [len(c.attempts) for c in rig.log.commands.values()] == [1] * 20
        assert {name.split("_")[0] for name in recorded_on} == {"ipfm-pubacks"}
        assert ("receive", 0) in waiting_when
        assert all(waiting == 0 for _, waiting in waiting_when)
    finally:
        d.sender.close()
    assert d.sender.aside is None
