"""Answers stored on a thread of their own while a send goes out (``Answers.aside``, used on
PostgreSQL; issue 15): the slot ends as it does without, a batch being stored never lets the
sender write or ask what to send beside it, answers arriving meanwhile wait in memory, and a
batch the airing log refuses is kept and its PUBACKs given back. The last test runs a slot on
the real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service import dispatch, sender
from ipfm_scheduler.service.jobs import Dispatcher
from ipfm_scheduler.service.ports import SendOutcome
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from tests.service.fake_mqtt import ack_message
from tests.service.helpers import MONDAY, PREFIX, Rig, local
from tests.service.test_sender import _Answering, wide_rig

WAIT_S = 10.0  # for the answers' thread, at most


class Threads:
    """Records the threads ``record_acks`` ran on; with ``gate`` cleared, it waits for it."""

    def __init__(self, log: Any) -> None:
        self.names: list[str] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        record = log.record_acks

        def spy(acks: Any, *, now: datetime, pubacks: Any = ()) -> Any:
            self.names.append(threading.current_thread().name)
            self.entered.set()
            assert self.gate.wait(WAIT_S)
            return record(acks, now=now, pubacks=pubacks)

        log.record_acks = spy


def aside_slot(rig: Rig) -> Threads:
    """``rig`` with receivers answering as their commands go out, answers stored aside."""
    rig.outbox = _Answering(PREFIX, rig.now)
    rig.outbox.auto_puback = True
    rig.dispatcher = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now, answers_aside=True)
    return Threads(rig.log)


def test_a_slot_whose_answers_are_stored_aside_ends_as_without(monkeypatch: Any) -> None:
    monkeypatch.setattr(dispatch, "STORE_BATCH", 5)
    monkeypatch.setattr(sender, "MEANWHILE_EVERY_S", 0.0)
    rig = wide_rig(40)
    threads = aside_slot(rig)
    rig.dispatcher.dispatch_due(rig.now)
    assert rig.dispatcher.answers._flight is None  # finished by the step itself
    rig.dispatcher.receive(rig.now)
    rig.dispatcher.send(rig.now)
    commands = rig.log.commands.values()
    assert len(commands) == 40
    assert all(c.state is CommandState.RECEIVED for c in commands)
    assert all([o for _, o in c.attempts] == [SendOutcome.PUBACK] for c in commands)
    assert len(rig.outbox.published) == 40  # none sent twice
    assert any(name.startswith("ipfm-answers") for name in threads.names)
    assert rig.dispatcher.answers.pending.waiting == 0


def _spy_writes(rig: Rig) -> list[bool]:
    """Records, at each of the sender's writes and questions to the airing log, whether a
    batch was still on the answers' thread (it must not be)."""
    seen: list[bool] = []
    answers = rig.dispatcher.answers
    for name in ("record_sends", "commands_to_send"):
        real = getattr(rig.log, name)

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen.append(answers._flight is not None)
            return _real(*args, **kwargs)

        setattr(rig.log, name, spy)
    return seen


def test_the_sender_never_writes_beside_a_batch_stored_aside(monkeypatch: Any) -> None:
    monkeypatch.setattr(dispatch, "STORE_BATCH", 5)
    monkeypatch.setattr(sender, "MEANWHILE_EVERY_S", 0.0)
    rig = wide_rig(40)
    aside_slot(rig)
    rig.outbox.auto_puback = False
    rig.dispatcher.sender.hold_s = 0.0  # PUBACKs recorded on their own, during the send too
    seen = _spy_writes(rig)
    rig.dispatcher.dispatch_due(rig.now)
    rig.dispatcher.send(rig.now)
    rig.dispatcher.receive(rig.now)
    assert seen
    assert not any(seen)
    assert all(c.state is CommandState.RECEIVED for c in rig.log.commands.values())


def test_the_sender_finishes_the_answers_batch_before_asking_what_to_send() -> None:
    """A PUBACK riding with an ack in the batch leaves its command `pending` until stored."""
    rig = wide_rig(3)
    calls: list[str] = []
    rig.dispatcher.sender.drain = lambda now: calls.append("finish the batch")
    ask = rig.log.commands_to_send
    rig.log.commands_to_send = lambda *a, **k: calls.append("ask") or ask(*a, **k)
    rig.dispatcher.sender.send(rig.now, resend_after=timedelta(seconds=30), due_by=rig.now)
    assert calls == ["finish the batch", "ask"]


def _answered(rig: Rig, status: str) -> list[str]:
    ids = sorted(rig.log.commands)
    for cid in ids:
        _, ward, receiver, _ = rig.log.commands[cid].topic.split("/")
        rig.outbox.incoming.append(ack_message(PREFIX, ward, receiver, cid, status, rig.now))
    return ids


def test_answers_arriving_while_a_batch_is_stored_wait_in_the_intake_in_order() -> None:
    rig = _rig_aside(20)
    threads = Threads(rig.log)
    threads.gate.clear()
    answers = rig.dispatcher.answers
    _answered(rig, "received")
    assert answers.receive(rig.plan, rig.now, aside=True) == 20  # handed over, not waited for
    assert threads.entered.wait(WAIT_S)
    assert answers.pending.waiting == 20  # not done until stored
    _answered(rig, "playing")
    assert answers.receive(rig.plan, rig.now, aside=True) == 0  # one batch at a time
    assert len(rig.outbox.incoming) == 20  # left in the intake meanwhile
    assert answers.finish(rig.now, wait=False) == 0  # still storing
    threads.gate.set()
    assert answers.finish(rig.now) == 20
    assert answers.pending.waiting == 0
    assert rig.dispatcher.receive(rig.now) == 20  # the rest, on this thread
    assert all(c.state is CommandState.PLAYING for c in rig.log.commands.values())
    assert threads.names[0].startswith("ipfm-answers")
    assert threads.names[1] == threading.current_thread().name


def _rig_aside(receivers: int) -> Rig:
    """A slot published, its PUBACKs come and not taken in yet (the acks' record takes them)."""
    rig = wide_rig(receivers)
    rig.dispatcher = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now, answers_aside=True)
    rig.outbox.auto_puback = False
    rig.tick()
    rig.outbox.ack_all()
    return rig


def test_a_batch_refused_aside_is_kept_and_its_pubacks_given_back() -> None:
    rig = _rig_aside(20)
    ids = _answered(rig, "received")
    rig.log.fail_next = StorageError("database away")
    answers = rig.dispatcher.answers
    assert answers.receive(rig.plan, rig.now, aside=True) == 20
    with pytest.raises(StorageError):
        answers.finish(rig.now)
    assert answers.pending.waiting == 20  # kept, to try again
    assert all(c.attempts == [] and c.state is CommandState.PENDING
               for c in rig.log.commands.values())  # fmt: skip
    assert sorted(rig.dispatcher.sender.held(ids)) == ids  # given back: still to record
    rig.dispatcher.sender.give_back(ids)
    rig.advance(seconds=2)  # the retry's wait
    assert rig.dispatcher.receive(rig.now) == 20
    commands = rig.log.commands.values()
    assert all(c.state is CommandState.RECEIVED for c in commands)
    assert all([o for _, o in c.attempts] == [SendOutcome.PUBACK] for c in commands)


def test_a_stop_finishes_the_batch_stored_aside() -> None:
    rig = _rig_aside(20)
    answers = rig.dispatcher.answers
    _answered(rig, "received")
    assert answers.receive(rig.plan, rig.now, aside=True) == 20
    answers.stop(rig.now)
    assert answers.pending.waiting == 0
    assert all(c.state is CommandState.RECEIVED for c in rig.log.commands.values())
    assert answers._pool is None


# ---------------------------------------------------------------- the real PostgreSQL


@pytest.fixture
def pg_repo(pg_databases: Callable[[], str]) -> Iterator[Repository]:
    engine = open_engine(pg_databases())
    upgrade(engine)
    repo = Repository(engine)
    try:
        yield repo
    finally:
        repo.close()


@pytest.mark.postgres
def test_on_postgresql_a_slot_stored_beside_its_answers_records_every_one_once(
    monkeypatch: Any, pg_repo: Repository
) -> None:
    """The slot's batches are stored on this thread while the answers' thread records acks
    and PUBACKs together, on two connections: every command ends `received` with one PUBACK
    attempt and one ack, and the answers' thread did record some."""
    monkeypatch.setattr(dispatch, "STORE_BATCH", 20)
    monkeypatch.setattr(sender, "MEANWHILE_EVERY_S", 0.0)
    plan = replace(wide_rig(300).plan, snapshot_id=None)  # recorded in this database
    rig = Rig(plan, local(MONDAY, "05:58"), log=pg_repo)
    threads = aside_slot(rig)
    rig.dispatcher.dispatch_due(rig.now)
    rig.dispatcher.receive(rig.now)
    rig.dispatcher.send(rig.now)
    with pg_repo.engine.connect() as conn:
        states = conn.execute(select(t.commands.c.state, func.count()).group_by("state")).all()
        acks = conn.execute(select(func.count()).select_from(t.acks)).scalar_one()
        outcomes = conn.execute(
            select(t.send_attempts.c.outcome, func.count()).group_by("outcome")
        ).all()
    assert dict(states) == {"received": 300}
    assert acks == 300
    assert dict(outcomes) == {"puback": 300}
    assert any(name.startswith("ipfm-answers") for name in threads.names)
