"""Bounded under attack (issue 13, item 4), at the service's answers: a message too large to
be an answer keeps only its start, size and sha256; a flood of quarantined messages writes a
few WARNING lines a minute and one summary, never a payload; unknown receivers make no
metric series."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from ipfm_scheduler import i18n
from ipfm_scheduler.core.traffic import IncomingMessage
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.service.jobs import Dispatcher
from tests.service.fake_mqtt import status_message
from tests.service.helpers import MONDAY, PREFIX, Rig, default_ward, local, make_plan

STATUS = f"{PREFIX}/cam-trung/loa-01/status"


@pytest.fixture
def rig() -> Rig:
    return Rig(make_plan(default_ward()), local(MONDAY, "05:00"))


def test_a_message_cut_short_at_the_intake_is_quarantined_with_its_size_and_sha256(
    rig: Rig,
) -> None:
    whole = b"\x00" * 1_000_000
    digest = hashlib.sha256(whole).hexdigest()
    cut = IncomingMessage(STATUS, whole[:1024], size=len(whole), sha256=digest)
    rig.outbox.incoming.append(cut)
    rig.tick()
    ((topic, raw, reason),) = rig.log.quarantined
    assert (topic, raw) == (STATUS, whole[:1024])
    assert "1000000 bytes: more than the 16384 an answer may have" in reason


def test_a_flood_of_quarantined_messages_writes_ten_lines_a_minute_and_a_summary(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "ipfm_scheduler.service.answers")
    secret = "PAYLOAD-" + "z" * 5000
    for i in range(1234 + 10):
        rig.outbox.incoming.append(IncomingMessage(STATUS, json.dumps([i, secret]).encode()))
    rig.tick()
    assert len(rig.log.quarantined) == 1244
    assert len(caplog.records) == 10
    rig.advance(seconds=61).tick()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1] == "... and 1,234 more quarantined in the last minute"
    assert len(lines) == 11
    assert not any("PAYLOAD" in line for line in lines)
    assert all(len(line) < 400 for line in lines)


def test_the_quarantine_warning_is_in_vietnamese_and_its_stored_reason_in_english(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The line is in the language spoken; the reason is shown as the airing log keeps it."""
    caplog.set_level(logging.WARNING, "ipfm_scheduler.service.answers")
    i18n.set_language("vi")
    try:
        for i in range(11):
            rig.outbox.incoming.append(IncomingMessage(STATUS, json.dumps([i]).encode()))
        rig.tick()
        rig.advance(seconds=61).tick()
    finally:
        i18n.set_language("en")
    reason = "status: the payload must be a JSON object, not a list"
    assert [r for _, _, r in rig.log.quarantined] == [reason] * 11
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == f"status từ cam-trung/loa-01 bị cách ly: {reason}"
    assert lines[-1] == "... và thêm 1 dòng bị cách ly nữa trong phút vừa qua"
    assert len(lines) == 11


def test_statuses_of_thousands_of_unknown_wards_make_one_counter_and_no_series() -> None:
    plan = make_plan(default_ward())
    metrics = Metrics()
    rig = Rig(plan, local(MONDAY, "05:00"))
    rig.dispatcher = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now, metrics=metrics)
    rig.outbox.incoming += [
        status_message(PREFIX, f"ward-{i}", "loa-01", "online") for i in range(5000)
    ]
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-01", "online"))
    rig.advance(seconds=1).tick()
    text = metrics.render().decode()
    assert "ipfm_answers_unknown_total 5000.0" in text
    assert "ward-" not in text
    assert 'ipfm_receivers_online{ward="cam-trung"} 1.0' in text
    assert rig.log.status_changes == [(("cam-trung", "loa-01"), True, rig.now)]
