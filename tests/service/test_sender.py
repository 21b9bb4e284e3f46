"""The sender: paced publishing, PUBACK bookkeeping, refusals recorded (fakes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service import dispatch, jobs, sender
from ipfm_scheduler.service.jobs import Dispatcher
from ipfm_scheduler.service.ports import Publish, PublishStatus, SendOutcome
from tests.service.fake_mqtt import FakeOutbox, ack_message
from tests.service.helpers import MONDAY, PREFIX, Rig, local, make_plan
from tests.service.test_dispatcher import default_ward


def wide_rig(receivers: int) -> Rig:
    from ipfm_scheduler.core.model import Receiver
    from tests.core.factories import ward, weekly

    w = ward(
        weekly("mon", "06:00"), receivers=tuple(Receiver(f"loa-{i:03d}") for i in range(receivers))
    )
    return Rig(make_plan(w), local(MONDAY, "05:58"))


def test_the_in_flight_cap_is_respected_and_everything_goes_out_in_one_tick() -> None:
    rig = wide_rig(50)
    rig.outbox.auto_puback = False
    rig.outbox.cap = 8  # at most 8 await a PUBACK; the broker answers while the sender waits
    rig.tick()
    assert len(rig.outbox.published) == 50
    waiting = [c for c in rig.log.commands.values() if c.state is CommandState.PENDING]
    assert 0 < len(waiting) <= 8
    rig.outbox.ack_all()
    rig.advance(seconds=1).tick()
    assert all(c.state is CommandState.SENT for c in rig.log.commands.values())
    assert len(rig.outbox.published) == 50  # nothing sent twice


def test_while_disconnected_nothing_is_tried_and_nothing_is_lost() -> None:
    rig = Rig(make_plan(default_ward()), local(MONDAY, "05:58"))
    rig.outbox.connected = False
    rig.tick()
    assert rig.outbox.published == []
    assert all(c.state is CommandState.PENDING for c in rig.log.commands.values())
    assert all(c.attempts == [] for c in rig.log.commands.values())
    rig.outbox.connected = True
    rig.advance(seconds=1).tick()
    assert len(rig.outbox.published) == 2


def test_a_puback_for_a_publish_given_up_on_still_marks_the_command_sent() -> None:
    rig = Rig(make_plan(default_ward()), local(MONDAY, "05:58"))
    rig.outbox.auto_puback = False
    rig.tick()
    rig.advance(seconds=31)
    rig.dispatcher.sender._give_up(rig.now, timedelta(seconds=30))
    assert all(
        [o for _, o in c.attempts] == [SendOutcome.TIMEOUT] for c in rig.log.commands.values()
    )
    rig.outbox.ack_all()  # the broker's late PUBACKs
    rig.dispatcher.sender.settle(rig.now)
    assert all(c.state is CommandState.SENT for c in rig.log.commands.values())


class _Answering(FakeOutbox):
    """Every receiver answers `received` as soon as its command is published; at most ``cap``
    await a PUBACK, which comes only while the sender waits (as the broker's do)."""

    def __init__(self, prefix: str, at: datetime) -> None:
        super().__init__(cap=4)
        self.auto_puback = False
        self.prefix, self.at = prefix, at

    def publish(self, topic: str, payload: bytes, *, token: str, wait: bool = True) -> Publish:
        result = super().publish(topic, payload, token=token, wait=wait)
        if result.status is PublishStatus.ACCEPTED:
            _, ward, receiver, _ = topic.split("/")
            self.incoming.append(
                ack_message(self.prefix, ward, receiver, token, "received", self.at)
            )
        return result


def test_a_big_dispatch_takes_in_answers_and_beats_while_it_sends(monkeypatch: Any) -> None:
    """A slot's commands go out batch by batch; while the step waits on the broker it records
    the answers already in (and writes the heartbeat), instead of leaving them in the intake
    until the step ends."""
    monkeypatch.setattr(dispatch, "STORE_BATCH", 5)
    monkeypatch.setattr(sender, "MEANWHILE_EVERY_S", 0.0)
    monkeypatch.setattr(jobs, "BEAT_EVERY_S", 0.0)
    rig = wide_rig(20)
    rig.outbox = _Answering(PREFIX, rig.now)
    rig.dispatcher = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now)
    beats: list[datetime] = []
    rig.dispatcher.beat = beats.append
    rig.dispatcher.dispatch_due(rig.now)  # the date job's first step: no `receive` step yet
    states = [c.state for c in rig.log.commands.values()]
    assert len(states) == 20
    assert CommandState.RECEIVED in states  # recorded during the step
    assert beats
    rig.dispatcher.send(rig.now)
    rig.dispatcher.receive(rig.now)
    assert len(rig.outbox.published) == 20  # each once
    assert all(c.state is CommandState.RECEIVED for c in rig.log.commands.values())


def _pubacks_with_acks(rig: Rig) -> list[str]:
    """Records the PUBACKs handed to the airing log with acks (``record_acks``)."""
    together: list[str] = []
    record = rig.log.record_acks

    def spy(acks: Any, *, now: datetime, pubacks: Any = ()) -> Any:
        together.extend(pubacks)
        return record(acks, now=now, pubacks=pubacks)

    rig.log.record_acks = spy  # type: ignore[method-assign]
    return together


def test_a_puback_waits_for_its_commands_ack_and_is_recorded_with_it(monkeypatch: Any) -> None:
    """The broker's PUBACK comes at once and the receiver answers as its command goes out: the
    PUBACKs are recorded with the acks (one update of each command), each once."""
    monkeypatch.setattr(dispatch, "STORE_BATCH", 5)
    monkeypatch.setattr(sender, "MEANWHILE_EVERY_S", 0.0)
    rig = wide_rig(20)
    rig.outbox = _Answering(PREFIX, rig.now)
    rig.outbox.auto_puback = True
    rig.dispatcher = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now)
    together = _pubacks_with_acks(rig)
    rig.dispatcher.dispatch_due(rig.now)
    rig.dispatcher.receive(rig.now)
    rig.dispatcher.send(rig.now)
    commands = rig.log.commands.values()
    assert all(c.state is CommandState.RECEIVED for c in commands)
    assert all([o for _, o in c.attempts] == [SendOutcome.PUBACK] for c in commands)
    # the last command's PUBACK came once nothing else was in flight: recorded at once
    assert len(together) == 19
    assert len(rig.outbox.published) == 20


def _one_puback(rig: Rig) -> str:
    """Three commands published and awaiting their PUBACK; the first one's comes."""
    rig.outbox.auto_puback = False
    rig.tick()
    token = rig.outbox._unacked.pop(0)
    rig.outbox._pubacks.append(token)
    return token


def test_a_held_puback_is_recorded_alone_once_it_has_waited(monkeypatch: Any) -> None:
    rig = wide_rig(3)
    first = _one_puback(rig)
    rig.dispatcher.sender.settle(rig.now, hold=True)
    assert rig.log.commands[first].state is CommandState.PENDING  # held: two still in flight
    rig.dispatcher.sender.hold_s = 0.0  # it has waited long enough
    rig.dispatcher.sender.settle(rig.now, hold=True)
    assert rig.log.commands[first].state is CommandState.SENT


def test_every_held_puback_is_recorded_before_the_log_is_asked_what_to_send() -> None:
    """A command whose PUBACK is held is `pending` in the log: it is recorded first, so that
    it is not sent again."""
    rig = wide_rig(3)
    first = _one_puback(rig)
    rig.dispatcher.sender.settle(rig.now, hold=True)
    rig.dispatcher.send(rig.now)
    assert rig.log.commands[first].state is CommandState.SENT
    assert len(rig.outbox.published) == 3


def test_pubacks_handed_over_and_not_recorded_are_given_back() -> None:
    """The acks' record fails: the PUBACKs it took are recorded on their own later."""
    rig = Rig(make_plan(default_ward()), local(MONDAY, "05:58"))
    rig.outbox.auto_puback = False
    rig.tick()
    rig.outbox.ack_all()
    ids = sorted(rig.log.commands)
    for cid in ids:
        _, ward, receiver, _ = rig.log.commands[cid].topic.split("/")
        rig.outbox.incoming.append(ack_message(PREFIX, ward, receiver, cid, "received", rig.now))
    rig.log.fail_next = StorageError("database away")
    with pytest.raises(StorageError):
        rig.dispatcher.answers.receive(rig.plan, rig.now)
    assert all(c.attempts == [] for c in rig.log.commands.values())
    assert sorted(rig.dispatcher.sender.held(ids)) == ids  # given back: still to record
    rig.dispatcher.sender.give_back(ids)
    rig.dispatcher.sender.settle(rig.now)
    assert all(c.state is CommandState.SENT for c in rig.log.commands.values())


def test_where_the_log_gains_nothing_a_puback_is_recorded_at_once() -> None:
    """SQLite (``pubacks_with_acks`` false): nothing is held, as before."""
    rig = wide_rig(3)
    rig.log.pubacks_with_acks = False
    rig.dispatcher = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now)
    first = _one_puback(rig)
    assert rig.dispatcher.sender.held([first]) == []
    rig.dispatcher.sender.settle(rig.now, hold=True)
    assert rig.log.commands[first].state is CommandState.SENT
