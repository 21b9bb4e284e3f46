"""`ipfm-scheduler run` as a real process, started with a spill file left by an earlier run
whose database was down (issue 13, item 5): the answers in it are stored, in order, and the
file is removed."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.traffic import IncomingMessage
from ipfm_scheduler.protocol import Ack, OwnKey, encode_ack
from ipfm_scheduler.service.wiring import spill_path
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.spill import Spilled, SpillFile
from tests.service.e2e import signing_of, wait_for, write_station
from tests.service.test_e2e_process import Service, count, soon, upgraded

pytestmark = pytest.mark.mqtt


def test_a_service_started_with_a_spill_file_stores_its_answers_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    station = write_station(tmp_path, prefix=topic_prefix, mqtt_port=mqtt_broker[1], at=soon())
    upgraded(station)
    db = tmp_path / "ipfm.db"
    first = Service(station, None, tmp_path / "run.log")
    try:
        wait_for(lambda: count(db, t.commands) == 3, 60, "3 commands stored")
    finally:
        assert first.stop() == 0
    engine = open_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        commands = conn.execute(select(t.commands.c.id, t.commands.c.topic)).all()
    url = f"sqlite:///{db}"
    spill = SpillFile(spill_path(url, {"STATE_DIRECTORY": str(state)}))
    at = datetime.now(UTC)
    own = signing_of(station)["own_keys"]  # each box signs its answers (protocol version 2)
    answers = [
        Spilled(
            at, IncomingMessage(topic.replace("/cmd", "/ack"), _ack(cid, status, at, topic, own))
        )
        for status in ("received", "playing")
        for cid, topic in commands
    ]
    assert spill.append(answers) == 6
    second = Service(station, None, tmp_path / "run.log")
    try:
        wait_for(lambda: count(db, t.acks) == 6, 60, "6 acks stored from the spill file")
        assert second.stop() == 0
    finally:
        second.stop(signal.SIGKILL)
    with engine.connect() as conn:
        stored = conn.execute(
            select(t.acks.c.command_id, t.acks.c.status, t.acks.c.received_at).order_by(t.acks.c.id)
        ).all()
    engine.dispose()
    assert [(r.command_id, r.status) for r in stored] == [
        (cid, status) for status in ("received", "playing") for cid, _ in commands
    ]
    assert {r.received_at for r in stored} == {at}  # as received, not as replayed
    assert not spill.path.exists()


def ack_topic(command_topic: str) -> str:
    return command_topic.replace("/cmd", "/ack")


def _ack(command_id: str, status: str, at: datetime, topic: str, own: dict[Any, Any]) -> bytes:
    ward, receiver = topic.split("/")[-3:-1]
    ack = Ack(command_id, AckStatus(status), at)
    return encode_ack(ack, own=OwnKey(ward, receiver, own[(ward, receiver)]))
