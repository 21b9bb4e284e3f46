"""Issue 13's attacks by a third party on the broker, end to end against the REAL mosquitto
with signing on (protocol version 2): the service, its SQLite airing log and simulated
receivers signing as ipfm-receiver does, and a plain MQTT client playing the attacker.

(a) a forged `completed` for a receiver kept offline; (b) a forged `rejected` answering every
play before the real receiver; (c) a forged retained `offline` for a live receiver, and a status
for a ward that does not exist; (d) a signed command captured on one receiver's cmd topic and
published on others'. Each is defended: quarantined, or refused `wrong-target`; the week's
verdicts are what the real receivers did.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from ipfm_scheduler.cli import audit_render as render
from ipfm_scheduler.cli import log_render
from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.protocol import OwnKey, canonical
from ipfm_scheduler.simulator import Handled
from ipfm_scheduler.storage import audit
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.report import week_report
from tests.service.e2e import LiveRig, wait_for, wards_of
from tests.service.helpers import MONDAY, TZ, local

pytestmark = pytest.mark.mqtt

NEXT_MONDAY = MONDAY + timedelta(days=7)


class Attacker:
    """Any client that can connect to the broker: publishes what it likes, and hears commands."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.prefix = prefix
        self.commands: list[tuple[str, bytes]] = []
        self.heard = threading.Event()
        self.on_command: list[object] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._message
        self.client.connect(host, port)
        self.client.loop_start()

    def _message(self, _client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        self.commands.append((message.topic, bytes(message.payload)))
        self.heard.set()

    def listen(self) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_args: done.set()
        self.client.subscribe(f"{self.prefix}/+/+/cmd", qos=1)
        assert done.wait(10), "the attacker could not subscribe"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def topic(self, ward: str, receiver: str, kind: str) -> str:
        return f"{self.prefix}/{ward}/{receiver}/{kind}"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class HeardAnswers:
    """Every ack the simulated receivers gave: (ward, receiver, command id, status, detail)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str, str | None]] = []
        self._lock = threading.Lock()

    def __call__(self, handled: Handled) -> None:
        with self._lock:
            for ack in handled.outcome.acks:
                self.seen.append(
                    (handled.ward, handled.receiver, ack.id, ack.status.value, ack.detail)
                )

    def of(self, command_id: str) -> list[tuple[str, str, str, str | None]]:
        with self._lock:
            return [(w, r, s, d) for w, r, c, s, d in self.seen if c == command_id]


@pytest.fixture
def rig(tmp_path: Path, mqtt_broker: tuple[str, int], topic_prefix: str) -> Iterator[LiveRig]:
    host, port = mqtt_broker
    live = LiveRig(tmp_path, host, port, topic_prefix, wards_of(2, 3), local(MONDAY, "05:58"))
    yield live
    live.close()


@pytest.fixture
def attacker(rig: LiveRig) -> Iterator[Attacker]:
    client = Attacker(rig.settings.host, rig.settings.port, rig.prefix)
    yield client
    client.close()


def command_of(rig: LiveRig, ward: str, receiver: str) -> tuple[str, str]:
    with rig.engine.connect() as conn:
        row = conn.execute(
            select(t.commands.c.id, t.commands.c.state).where(
                t.commands.c.ward == ward, t.commands.c.receiver == receiver
            )
        ).one()
    return row.id, row.state


def quarantine_reasons(rig: LiveRig) -> list[str]:
    with rig.engine.connect() as conn:
        return list(conn.execute(select(t.ack_quarantine.c.reason)).scalars())


def verdict_of(rig: LiveRig, ward: str, receiver: str) -> str:
    with rig.engine.connect() as conn:
        return str(
            conn.execute(
                select(t.week_closures.c.verdict).where(
                    t.week_closures.c.ward == ward, t.week_closures.c.receiver == receiver
                )
            ).scalar_one()
        )


def forged_ack(command_id: str, status: str, detail: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "v": 1, "id": command_id, "status": status, "at": "2026-11-23T06:10:00+07:00",
    }  # fmt: skip
    if detail is not None:
        body["detail"] = detail
    if status == "completed":
        body["played_s"] = 3
    return body


def signed_by(key: SigningKey, ward: str, receiver: str, body: dict[str, object]) -> bytes:
    return canonical(OwnKey(ward, receiver, key).signed(dict(body)))


def test_a_forged_completed_for_a_receiver_kept_offline_is_not_counted(
    rig: LiveRig, attacker: Attacker
) -> None:
    silent = ("ward-00", "loa-03")
    rig.simulate([p for p in rig.pairs() if p != silent])
    rig.pump(lambda: rig.states()[CommandState.COMPLETED] == 5, "the 5 live receivers completed")
    command_id, _ = command_of(rig, *silent)
    rig.at(local(MONDAY, "06:10"))  # long after the recording could have played
    body = forged_ack(command_id, "completed")
    topic = attacker.topic(*silent, "ack")
    attacker.publish(topic, json.dumps(body).encode())  # version 1, unsigned
    attacker.publish(topic, signed_by(SigningKey("k-loa-03", b"a guess" * 8), *silent, body))
    stolen = rig.plan.station.signing.own_key("ward-00", "loa-01")  # another box's key
    assert stolen is not None
    attacker.publish(topic, signed_by(stolen, *silent, body))
    attacker.publish(topic, signed_by(stolen, "ward-00", "loa-01", body))  # its own name
    rig.pump(lambda: len(quarantine_reasons(rig)) == 4, "the 4 forgeries quarantined")
    assert command_of(rig, *silent)[1] == CommandState.SENT.value
    reasons = quarantine_reasons(rig)
    assert "is not signed, but ward-00/loa-03 has a key" in reasons[0]
    assert all("bad signature" in reason for reason in reasons[1:3])
    assert "speaks for ward-00/loa-01" in reasons[3]
    rig.at(local(NEXT_MONDAY, "00:30")).sweep()
    assert verdict_of(rig, *silent) != "compliant"
    assert verdict_of(rig, "ward-00", "loa-01") == "compliant"


def test_a_forged_rejected_answering_before_the_receiver_does_not_beat_the_truth(
    rig: LiveRig, attacker: Attacker
) -> None:
    attacker.listen()
    rig.tick()  # the commands go out; no receiver is listening yet, only the attacker
    wait_for(lambda: len(attacker.commands) == 6, 10, "the attacker heard the 6 commands")
    for topic, payload in list(attacker.commands):
        ward, receiver = topic.split("/")[-3:-1]
        body = forged_ack(json.loads(payload)["id"], "rejected", "checksum")
        attacker.publish(attacker.topic(ward, receiver, "ack"), json.dumps(body).encode())
    rig.pump(lambda: len(quarantine_reasons(rig)) == 6, "the 6 forged rejections quarantined")
    assert rig.states() == {CommandState.SENT: 6}
    rig.simulate(rig.pairs())
    rig.at(local(MONDAY, "05:58:31"))  # unanswered: sent again, to the real receivers
    rig.pump(rig.all_in(CommandState.COMPLETED, 6), "the 6 real completions")
    with rig.engine.connect() as conn:
        verified = set(conn.execute(select(t.acks.c.verified)).scalars())
        marks = set(conn.execute(select(t.commands.c.answer_verified)).scalars())
    assert verified == {True}
    assert marks == {True}


def test_forged_statuses_for_a_live_receiver_and_a_ghost_ward_change_nothing(
    rig: LiveRig, attacker: Attacker
) -> None:
    rig.simulate(rig.pairs())
    rig.pump(lambda: rig.count(t.receiver_status) == 6, "6 receivers online")
    offline = {"v": 1, "state": "offline", "at": "2026-11-23T05:58:00+07:00"}
    live = attacker.topic("ward-00", "loa-01", "status")
    ghost = attacker.topic("ghost-ward", "loa-01", "status")
    try:
        attacker.publish(live, json.dumps(offline).encode(), retain=True)
        attacker.publish(ghost, json.dumps({"v": 1, "state": "online"}).encode(), retain=True)
        rig.pump(
            lambda: len(quarantine_reasons(rig)) == 1 and rig.dispatcher.answers.unknown == 1,
            "the forged status quarantined and the ghost's counted",
        )
    finally:
        attacker.publish(live, b"", retain=True)  # leave no retained message behind
        attacker.publish(ghost, b"", retain=True)
    with rig.engine.connect() as conn:
        rows = conn.execute(
            select(
                t.receiver_status.c.ward, t.receiver_status.c.receiver, t.receiver_status.c.online
            )
        ).all()
    assert len(rows) == 6
    assert all(row.online for row in rows)
    assert "ghost-ward" not in {row.ward for row in rows}
    # the live receiver's forged status: it has a key, and the status is not signed with it;
    # the ghost's is not kept at all (issue 13 item 4: only counted, no row, no metric series)
    assert len(quarantine_reasons(rig)) == 1
    assert any("not signed" in r for r in quarantine_reasons(rig)), quarantine_reasons(rig)


def test_a_captured_command_published_on_other_receivers_topics_is_refused(
    rig: LiveRig, attacker: Attacker
) -> None:
    answers = HeardAnswers()
    target = ("ward-00", "loa-03")
    others = [("ward-01", "loa-02"), ("ward-00", "loa-01")]
    attacker.listen()
    rig.simulate([p for p in rig.pairs() if p != target], also=answers)
    rig.pump(lambda: rig.states()[CommandState.COMPLETED] == 5, "the 5 live receivers completed")
    captured_id, _ = command_of(rig, *target)
    wait_for(
        lambda: any(json.loads(p)["id"] == captured_id for _, p in attacker.commands),
        10,
        "the attacker captured loa-03's command",
    )
    payload = next(p for _, p in attacker.commands if json.loads(p)["id"] == captured_id)
    assert json.loads(payload)["receiver"] == "loa-03"  # version 2: the target is signed
    for ward, receiver in others:
        attacker.publish(attacker.topic(ward, receiver, "cmd"), payload)
    wait_for(lambda: len(answers.of(captured_id)) == 2, 10, "both receivers answered it")
    assert sorted(answers.of(captured_id)) == sorted(
        (w, r, "rejected", "wrong-target") for w, r in others
    )
    rig.pump(lambda: len(quarantine_reasons(rig)) == 2, "their refusals kept in quarantine")
    assert command_of(rig, *target)[1] == CommandState.SENT.value
    assert rig.states() == {CommandState.COMPLETED: 5, CommandState.SENT: 1}
    playing = Counter((w, r) for w, r, _, status, _ in answers.seen if status == "playing")
    assert sorted(playing.values()) == [1] * 5  # each live box played its own command, once


def test_an_ack_signed_by_its_own_receiver_counts_and_is_verified(rig: LiveRig) -> None:
    """The control for the tests above: the same path with the real receivers' signatures."""
    rig.simulate(rig.pairs())
    rig.pump(rig.all_in(CommandState.COMPLETED, 6), "6 commands completed")
    with rig.engine.connect() as conn:
        acks = conn.execute(select(t.acks.c.verified, t.acks.c.raw)).all()
    assert len(acks) == 18
    assert all(row.verified for row in acks)
    assert all(json.loads(row.raw)["v"] == 2 for row in acks)
    assert quarantine_reasons(rig) == []


def test_a_ward_that_accepts_unsigned_answers_counts_them_marked_unverified(
    tmp_path: Path, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """A ward moving to version 2 (accept_unsigned: true) whose boxes are not updated yet: they
    get version 1 commands, their unsigned answers count, and `report` and `log` say those
    answers are unverified; the other ward's boxes sign and are verified."""
    host, port = mqtt_broker
    old, new = wards_of(2, 2)
    old = replace(old, accept_unsigned=True)
    rig = LiveRig(tmp_path, host, port, topic_prefix, [old, new], local(MONDAY, "05:58"))
    try:
        rig.simulate([(old.id, r.id) for r in old.receivers], version_1=True)
        rig.simulate([(new.id, r.id) for r in new.receivers])
        rig.pump(rig.all_in(CommandState.COMPLETED, 4), "4 commands completed")
        with rig.engine.connect() as conn:
            versions = {
                (w, json.loads(p)["v"])
                for w, p in conn.execute(select(t.commands.c.ward, t.commands.c.payload))
            }
            marks = set(conn.execute(select(t.commands.c.ward, t.commands.c.answer_verified)))
            rows = audit.airing_log(conn, audit.LogFilter())
            report = week_report(conn, IsoWeek.of(MONDAY), now=local(NEXT_MONDAY, "01:00"))
        assert versions == {(old.id, 1), (new.id, 2)}
        assert marks == {(old.id, False), (new.id, True)}
        table = log_render.log_table(rows, TZ)
        assert table.count("completed (unverified)") == 2
        assert {r["ward"]: r["verified"] for r in log_render.log_rows(rows, TZ)} == {
            old.id: False, new.id: True,
        }  # fmt: skip
        text = render.report_table(report)
        assert f"{old.id}/loa-01: 1 of 1 completed UNVERIFIED" in text
        assert f"{new.id}/loa-01" not in text.split("Counted on unsigned answers")[1]
    finally:
        rig.close()
