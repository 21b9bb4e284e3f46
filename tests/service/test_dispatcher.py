"""The dispatcher's decisions against in-memory fakes: time is passed in, nothing sleeps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service.jobs import Dispatcher
from ipfm_scheduler.service.ports import IncomingMessage, PublishStatus, SendOutcome
from tests.service.fake_mqtt import ack_message, answer_all, status_message
from tests.service.helpers import MONDAY, PREFIX, Rig, default_ward, local, make_plan


@pytest.fixture
def rig() -> Rig:
    return Rig(make_plan(default_ward()), local(MONDAY, "05:00"))


def test_nothing_is_stored_before_the_dispatch_time(rig: Rig) -> None:
    rig.at(local(MONDAY, "05:57")).tick()
    assert rig.log.airings == {}
    assert rig.outbox.published == []


def test_at_start_minus_lead_the_airing_is_stored_then_published_to_each_enabled_receiver(
    rig: Rig,
) -> None:
    rig.at(local(MONDAY, "05:58")).tick()
    (airing,) = rig.log.airings.values()
    assert airing.planned.start == local(MONDAY, "06:00")
    assert airing.planned.expires == local(MONDAY, "06:30")
    topics = sorted(t for _, t, _ in rig.outbox.published)
    assert topics == [f"{PREFIX}/cam-trung/loa-01/cmd", f"{PREFIX}/cam-trung/loa-02/cmd"]
    for _, _, payload in rig.outbox.published:
        stored = rig.log.commands[json.loads(payload)["id"]]
        assert stored.payload == payload  # the stored bytes are the published bytes
        assert stored.state is CommandState.SENT  # PUBACK recorded


def test_a_disabled_receiver_gets_no_command() -> None:
    from ipfm_scheduler.core.model import Receiver
    from tests.core.factories import ward, weekly

    w = ward(weekly("mon", "06:00"), receivers=(Receiver("loa-01"), Receiver("loa-02", "", False)))
    rig = Rig(make_plan(w), local(MONDAY, "05:59"))
    rig.tick()
    assert [t for _, t, _ in rig.outbox.published] == [f"{PREFIX}/cam-trung/loa-01/cmd"]


def test_a_disabled_receiver_is_still_heard() -> None:
    """Disabled in its ward file, it is still a receiver of the configuration: its status is
    recorded, not counted as from a stranger."""
    from ipfm_scheduler.core.model import Receiver
    from tests.core.factories import ward, weekly

    w = ward(weekly("mon", "06:00"), receivers=(Receiver("loa-01"), Receiver("loa-02", "", False)))
    rig = Rig(make_plan(w), local(MONDAY, "05:59"))
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-02", "online"))
    rig.tick()
    assert rig.dispatcher.answers.unknown == 0
    assert [key for key, online, _ in rig.log.status_changes] == [("cam-trung", "loa-02")]


def test_an_airing_whose_window_closed_while_down_is_recorded_missed_and_not_sent() -> None:
    rig = Rig(make_plan(default_ward()), local(MONDAY, "07:00"))
    rig.tick()
    (airing,) = rig.log.airings.values()
    assert airing.outcome == "missed"
    assert rig.log.commands == {}
    assert rig.outbox.published == []


def test_an_airing_whose_time_passed_while_down_goes_out_late_if_its_window_is_open() -> None:
    rig = Rig(make_plan(default_ward()), local(MONDAY, "06:10"))
    rig.tick()
    assert len(rig.outbox.published) == 2
    (airing,) = rig.log.airings.values()
    assert airing.outcome is None


def test_a_restart_airs_nothing_twice(rig: Rig) -> None:
    rig.at(local(MONDAY, "05:58")).tick()
    answer_all(rig.outbox, PREFIX, rig.now, status="received")
    rig.advance(seconds=1).tick()
    restarted = Rig(rig.plan, local(MONDAY, "05:59:40"), log=rig.log)
    restarted.tick()
    assert len(rig.log.airings) == 1
    assert len(rig.log.commands) == 2
    assert restarted.outbox.published == []  # received: nothing to resend, nothing new


def test_a_command_received_but_never_finished_is_asked_again_so_a_lost_final_ack_is_recovered(
    rig: Rig,
) -> None:
    rig.at(local(MONDAY, "05:58")).tick()
    answer_all(rig.outbox, PREFIX, rig.now, status="received")
    rig.advance(seconds=1).tick()
    first = list(rig.outbox.published)
    rig.at(local(MONDAY, "06:29")).tick()
    assert rig.outbox.published == first  # it may still be playing: not while its window lasts
    rig.at(local(MONDAY, "06:30")).tick()
    assert sorted(rig.outbox.published[2:]) == sorted(first)  # asked again: the same bytes
    rig.at(local(MONDAY, "06:31")).tick()
    assert len(rig.outbox.published) == 4  # not again within 4 x resend_after
    rig.at(local(MONDAY, "06:41")).tick()  # still before it expires (06:42)
    assert len(rig.outbox.published) == 6
    rig.at(local(MONDAY, "06:42")).tick()
    rig.at(local(MONDAY, "06:50")).tick()
    assert len(rig.outbox.published) == 6  # expired: never again
    assert all(c.state is CommandState.EXPIRED for c in rig.log.commands.values())


def test_commands_stored_but_not_acknowledged_by_the_broker_go_out_after_a_restart_same_bytes(
    rig: Rig,
) -> None:
    rig.outbox.connected = False  # the broker is away: commands are stored, not sent
    rig.at(local(MONDAY, "05:58")).tick()
    assert rig.outbox.published == []
    stored = {c.id: c.payload for c in rig.log.commands.values()}
    restarted = Rig(rig.plan, local(MONDAY, "05:59"), log=rig.log)
    restarted.tick()
    assert {json.loads(p)["id"]: p for _, _, p in restarted.outbox.published} == stored


def test_a_refused_publish_is_recorded_and_retried_with_the_same_bytes(rig: Rig) -> None:
    rig.outbox.refuse = PublishStatus.QUEUE_FULL
    rig.at(local(MONDAY, "05:58")).tick()
    assert all(
        [o for _, o in c.attempts] == [SendOutcome.QUEUE_FULL] for c in rig.log.commands.values()
    )
    rig.outbox.refuse = None
    rig.advance(seconds=1).tick()
    assert sorted(p for _, _, p in rig.outbox.published) == sorted(
        c.payload for c in rig.log.commands.values()
    )


def test_a_publish_without_puback_is_sent_again_after_resend_after(rig: Rig) -> None:
    rig.outbox.auto_puback = False
    rig.at(local(MONDAY, "05:58")).tick()
    assert len(rig.outbox.published) == 2
    rig.advance(seconds=10).tick()
    assert len(rig.outbox.published) == 2  # still waiting for the PUBACK: not sent twice
    rig.advance(seconds=25).tick()
    assert len(rig.outbox.published) == 4
    first, again = rig.outbox.published[:2], rig.outbox.published[2:]
    assert sorted(p for *_, p in first) == sorted(p for *_, p in again)


def test_an_unanswered_command_is_resent_until_answered_then_never_again(rig: Rig) -> None:
    rig.at(local(MONDAY, "05:58")).tick()
    rig.advance(seconds=31).tick()
    assert len(rig.outbox.published) == 4  # resent once each
    answer_all(rig.outbox, PREFIX, rig.now, status="received")
    rig.advance(seconds=1).tick()
    rig.advance(seconds=60).tick()
    assert len(rig.outbox.published) == 4


def test_acks_complete_commands_and_duplicates_or_late_acks_change_nothing(rig: Rig) -> None:
    rig.at(local(MONDAY, "05:58")).tick()
    _, topic, payload = rig.outbox.published[0]
    command_id = json.loads(payload)["id"]
    ward, receiver = topic.split("/")[1:3]
    at = local(MONDAY, "06:10")
    for status in ("completed", "completed", "playing", "received"):
        rig.outbox.incoming.append(ack_message(PREFIX, ward, receiver, command_id, status, at))
    rig.advance(minutes=12).tick()
    assert rig.log.commands[command_id].state is CommandState.COMPLETED
    assert [changed for _, changed in rig.log.acks] == [True, False, False, False]


def test_an_ack_from_another_receiver_or_malformed_is_quarantined_never_dropped(rig: Rig) -> None:
    rig.at(local(MONDAY, "05:58")).tick()
    _, topic, payload = rig.outbox.published[0]
    command_id = json.loads(payload)["id"]
    other = "loa-02" if topic.split("/")[2] == "loa-01" else "loa-01"
    at = local(MONDAY, "06:10")
    rig.outbox.incoming += [
        ack_message(PREFIX, "cam-trung", other, command_id, "completed", at),
        IncomingMessage(f"{PREFIX}/cam-trung/loa-01/ack", b"{not json"),
    ]
    rig.advance(minutes=1).tick()
    assert len(rig.log.quarantined) == 2
    assert rig.log.commands[command_id].state is CommandState.SENT


def test_answers_from_receivers_not_in_the_configuration_are_only_counted(rig: Rig) -> None:
    """A flood on topics of wards and receivers the configuration does not have (or no valid
    topic at all) creates no row, no status, no metric series: one counter."""
    rig.at(local(MONDAY, "05:58")).tick()
    command_id = json.loads(rig.outbox.published[0][2])["id"]
    at = local(MONDAY, "06:10")
    rig.outbox.incoming += [
        ack_message(PREFIX, "cam-trung", "loa-99", command_id, "completed", at),
        *(status_message(PREFIX, f"ghost-{i}", "loa-01", "online") for i in range(50)),
        IncomingMessage(f"{PREFIX}/cam-trung/ack", b"{}"),
        IncomingMessage(f"{PREFIX}/Ghost/loa-01/status", b"{}"),
    ]
    rig.advance(minutes=1).tick()
    assert rig.dispatcher.answers.unknown == 53
    assert rig.log.quarantined == []
    assert rig.log.status_changes == []
    assert rig.log.commands[command_id].state is CommandState.SENT


def test_an_unanswered_command_expires_after_its_last_possible_end(rig: Rig) -> None:
    rig.at(local(MONDAY, "05:58")).tick()
    rig.at(local(MONDAY, "06:41")).tick()  # 06:30 + 10 min programme, grace 2 min: not yet
    assert all(c.state is CommandState.SENT for c in rig.log.commands.values())
    rig.at(local(MONDAY, "06:42")).tick()
    assert all(c.state is CommandState.EXPIRED for c in rig.log.commands.values())


def test_a_database_failure_keeps_due_airings_for_the_next_tick(rig: Rig) -> None:
    rig.log.fail_next = StorageError("database is locked")
    with pytest.raises(StorageError):
        rig.dispatcher.dispatch_due(local(MONDAY, "05:58"))
    assert rig.dispatcher.dispatch_due(local(MONDAY, "05:58:30")) == 1


def test_the_agenda_reaches_the_horizon_and_refreshes(rig: Rig) -> None:
    times = rig.dispatcher.dispatch_times(rig.now)
    assert times == [local(MONDAY, "05:58")]  # Thursday is beyond 36 h
    rig.at(local(MONDAY + timedelta(days=2), "12:00")).dispatcher.refresh(rig.now)
    assert rig.dispatcher.dispatch_times(rig.now) == [local(MONDAY + timedelta(days=3), "05:58")]


def test_reload_swaps_the_plan_and_keeps_what_was_stored(rig: Rig) -> None:
    from tests.core.factories import ward, weekly

    rig.at(local(MONDAY, "05:58")).tick()
    new_plan = make_plan(ward(weekly("mon", "06:15")))
    rig.dispatcher.replan(new_plan, rig.now)
    rig.at(local(MONDAY, "06:13")).tick()
    starts = sorted(a.planned.start for a in rig.log.airings.values())
    assert starts == [local(MONDAY, "06:00"), local(MONDAY, "06:15")]


def test_reload_does_not_record_earlier_airings_of_the_week_as_missed(rig: Rig) -> None:
    """A reload (replan) on Tuesday with a plan that adds Monday 17:00 and Tuesday 06:00 (both
    windows closed) and Tuesday 17:00: the service was running all along, so the closed ones are
    not recorded as missed "while the service was not running"; Tuesday 17:00 still goes out."""
    from tests.core.factories import ward, weekly

    rig.at(local(MONDAY, "05:58")).tick()  # Monday 06:00 handled under the old plan
    tuesday = MONDAY + timedelta(days=1)
    new_plan = make_plan(ward(weekly("mon,tue", "06:00"), weekly("mon,tue", "17:00")))
    rig.at(local(tuesday, "09:00")).dispatcher.replan(new_plan, rig.now)
    rig.tick()
    assert [a.outcome for a in rig.log.airings.values()] == [None]  # only Monday 06:00
    rig.at(local(tuesday, "16:58")).tick()
    starts = sorted(a.planned.start for a in rig.log.airings.values())
    assert starts == [local(MONDAY, "06:00"), local(tuesday, "17:00")]
    assert all(a.outcome != "missed" for a in rig.log.airings.values())


def test_dispatcher_starts_with_the_current_week_only() -> None:
    rig = Rig(make_plan(default_ward()), local(MONDAY + timedelta(days=7), "05:00"))
    rig.tick()
    assert rig.log.airings == {}  # last week's airings are not "missed" by this instance
    assert isinstance(rig.dispatcher, Dispatcher)
    assert Origin.SCHEDULED not in rig.log.origins()


def test_a_status_the_broker_replays_reaches_the_airing_log_marked_retained(rig: Rig) -> None:
    """The MQTT retain flag travels with a status to the airing log (which must not count a
    retained replay as the receiver being seen now); a live status is not marked retained."""
    from ipfm_scheduler.service.ports import IncomingStatus
    from tests.service.fake_mqtt import status_message

    recorded: list[IncomingStatus] = []
    record = rig.log.record_statuses

    def capture(statuses: list[IncomingStatus], *, now: datetime) -> list[bool]:
        recorded.extend(statuses)
        return record(statuses, now=now)

    rig.log.record_statuses = capture
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-01", "online"))
    rig.outbox.incoming.append(
        status_message(PREFIX, "cam-trung", "loa-02", "online", retain=False)
    )
    rig.tick()
    assert [(s.receiver, s.retained) for s in recorded] == [("loa-01", True), ("loa-02", False)]


def test_metrics_count_sends_acks_receivers_online_and_the_week(rig: Rig) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from ipfm_scheduler.service.http.metrics import Metrics
    from tests.service.fake_mqtt import status_message

    metrics = Metrics()
    dispatcher = Dispatcher(rig.log, rig.outbox, rig.plan, now=rig.now, metrics=metrics)
    rig.dispatcher = dispatcher
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-01", "online"))
    rig.at(local(MONDAY, "05:58")).tick()
    answer_all(rig.outbox, PREFIX, rig.now, status="completed")
    rig.advance(minutes=12).tick()
    rig.sweep()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }
    ward = (("ward", "cam-trung"),)
    assert samples[("ipfm_commands_sent_total", (("send", "first"), *ward))] == 2
    assert samples[("ipfm_acks_total", (("status", "completed"), *ward))] == 2
    assert samples[("ipfm_receivers_online", ward)] == 1
    week = (("programme", "kh179"), *ward)
    assert samples[("ipfm_week_receivers_confirmed", week)] == 2
    assert samples[("ipfm_dispatch_latency_seconds_count", ())] == 2
