"""The sender: paced publishing, PUBACK bookkeeping, refusals recorded (fakes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ipfm_scheduler.core.commands import CommandState
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
