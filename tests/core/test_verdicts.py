"""The weekly minimum on the record: each receiver's verdict and the reason in words (the one
rule the service's make-ups and closing record, `status` and `report` all call)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin, Priority, Receiver
from ipfm_scheduler.core.records import MISSED, AiringRecord, CommandRecord, WeekCloseRow
from ipfm_scheduler.core.verdicts import (
    MAX_MAKEUPS,
    ReceiverVerdict,
    Standing,
    describe_commands,
    missed_words,
    receiver_verdicts,
)
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ValueInvalid
from tests.core.factories import ward

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
WEEK = IsoWeek(2026, 48)  # Monday 2026-11-23 .. Sunday 2026-11-29
END = WEEK.end(HCM)
AFTER = END + timedelta(hours=1)  # the verdicts are final
WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=HCM)
S = CommandState


def at(day: int, hh: int = 6, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=HCM)


def airing(
    aid: int,
    start: datetime,
    commands: dict[str, CommandState | tuple[CommandState, str]],
    *,
    origin: Origin = Origin.SCHEDULED,
    outcome: str | None = None,
    programme: str = "kh179",
) -> AiringRecord:
    built = {}
    for receiver, given in commands.items():
        state, detail = given if isinstance(given, tuple) else (given, None)
        built[receiver] = CommandRecord(f"c{aid}-{receiver}", receiver, state, detail)
    return AiringRecord(
        aid,
        "cam-trung",
        programme,
        start,
        start + timedelta(minutes=30),
        origin,
        Priority.NORMAL,
        built,
        outcome,
    )


def missed(aid: int, start: datetime) -> AiringRecord:
    return airing(aid, start, {}, outcome=MISSED)


def verdicts(
    records: list[AiringRecord],
    *,
    minimum: int = 1,
    receivers: tuple[str, ...] = ("loa-01", "loa-02"),
    now: datetime = AFTER,
    final_at: datetime = END,
    **kwargs: object,
) -> dict[str, ReceiverVerdict]:
    return receiver_verdicts(
        WEEK,
        receivers,
        "kh179",
        minimum,
        records,
        now=now,
        final_at=final_at,
        tz=HCM,
        **kwargs,  # type: ignore[arg-type]
    )


def reasons(found: dict[str, ReceiverVerdict]) -> dict[str, tuple[str, int, str]]:
    return {r: (v.standing.value, v.completed, v.reason) for r, v in found.items()}


def test_only_the_receivers_given_count_and_those_below_the_minimum_are_short() -> None:
    """(was receiver_shortfalls: only enabled receivers, below the minimum)"""
    w = ward(receivers=(Receiver("loa-01"), Receiver("loa-02"), Receiver("loa-03", enabled=False)))
    records = [
        airing(1, at(23), {"loa-01": S.COMPLETED, "loa-02": S.COMPLETED, "loa-03": S.FAILED}),
        airing(2, at(24), {"loa-01": S.COMPLETED, "loa-02": (S.FAILED, "device")}),
    ]
    found = verdicts(records, minimum=2, receivers=tuple(r.id for r in w.enabled_receivers))
    assert set(found) == {"loa-01", "loa-02"}
    short = [(v.receiver, v.completed, v.minimum) for v in found.values() if not v.compliant]
    assert short == [("loa-02", 1, 2)]
    assert found["loa-02"].reason == "1 of 2 completed; 1 command: failed (device)"
    assert found["loa-01"].reason == ""


def test_the_reason_words_in_their_order() -> None:
    records = [
        airing(1, at(23), {"loa-01": S.EXPIRED, "loa-02": (S.REJECTED, "expired")}),
        missed(2, at(24)),
        airing(3, at(25), {"loa-01": S.EXPIRED, "loa-02": S.SENT}),
    ]
    found = verdicts(records, offline={"loa-01": at(23, 5, 58)})
    assert reasons(found) == {
        "loa-01": (
            "short",
            0,
            "offline since 2026-11-23 05:58; 2 commands: expired ×2; 1 airing missed while "
            "the service was not running (2026-11-24 06:00)",
        ),
        "loa-02": (
            "short",
            0,
            "2 commands: rejected (expired), sent, no answer; 1 airing missed while the "
            "service was not running (2026-11-24 06:00)",
        ),
    }


def test_no_airing_planned_no_command_sent_and_missed_airings() -> None:
    assert verdicts([])["loa-01"].reason == "no airing planned"
    assert verdicts([], now=WEDNESDAY)["loa-01"].reason == "no airing planned yet"
    only_one = [airing(1, at(23), {"loa-01": S.COMPLETED})]
    assert verdicts(only_one)["loa-02"].reason == "no command sent"
    both_missed = [missed(1, at(23)), missed(2, at(24))]
    assert verdicts(both_missed)["loa-02"].reason == (
        "no command sent: 2 airings missed while the service was not running "
        "(2026-11-23 06:00, 2026-11-24 06:00)"
    )


def test_open_commands_are_named_by_what_was_last_heard() -> None:
    records = [
        airing(1, at(23), {"loa-01": S.PENDING, "loa-02": S.RECEIVED}),
        airing(2, at(24), {"loa-01": S.PLAYING, "loa-02": S.SENT}),
    ]
    final = reasons(verdicts(records))
    assert final["loa-01"][2] == (
        "2 commands: never accepted by the broker, playing, no end reported"
    )
    assert final["loa-02"][2] == "2 commands: received, no further answer, sent, no answer"
    live = verdicts(records, now=WEDNESDAY)
    assert live["loa-01"].standing is Standing.PENDING
    assert live["loa-01"].reason == (
        "2 commands: not yet accepted by the broker, playing, no end reported"
    )


def test_make_ups_used_up_are_named() -> None:
    records = [airing(1, at(23), {"loa-01": S.COMPLETED, "loa-02": (S.FAILED, "device")})]
    records += [
        airing(i, at(23, 17, 10 * i), {"loa-02": (S.FAILED, "device")}, origin=Origin.MAKEUP)
        for i in range(2, 2 + MAX_MAKEUPS)
    ]
    found = verdicts(records)
    assert found["loa-02"].makeups == MAX_MAKEUPS
    assert found["loa-02"].reason == (
        "4 commands: failed (device) ×4; 3 make-ups tried, the most a week gets"
    )
    assert found["loa-01"].makeups == 0


def test_offline_counts_only_when_known_by_the_end_of_the_week_and_by_now() -> None:
    records = [airing(1, at(23), {"loa-01": S.EXPIRED, "loa-02": S.EXPIRED})]
    found = verdicts(records, offline={"loa-01": END, "loa-02": END - timedelta(minutes=1)})
    assert found["loa-01"].reason == "1 command: expired"
    assert found["loa-02"].reason == "offline since 2026-11-29 23:59; 1 command: expired"
    live = verdicts(records, offline={"loa-01": WEDNESDAY}, now=WEDNESDAY - timedelta(hours=1))
    assert live["loa-01"].reason == "1 command: expired"


def test_pending_until_final_then_short_or_not_enforced() -> None:
    records = [airing(1, at(23), {"loa-01": S.COMPLETED, "loa-02": S.EXPIRED})]
    final_at = END + timedelta(minutes=7)
    before = verdicts(records, now=final_at - timedelta(seconds=1), final_at=final_at)
    assert before["loa-02"].standing is Standing.PENDING
    assert verdicts(records, now=final_at, final_at=final_at)["loa-02"].standing is Standing.SHORT
    assert verdicts(records, enforced=False)["loa-02"].standing is Standing.NOT_ENFORCED
    assert verdicts(records)["loa-01"].standing is Standing.COMPLIANT


def test_what_may_still_complete_decides_who_is_at_risk() -> None:
    records = [airing(1, at(23), {"loa-01": S.SENT, "loa-02": (S.FAILED, "device")})]
    thursday = PlannedAiring(at(26), "cam-trung", "kh179", at(26, 6, 30), 80, Origin.SCHEDULED)
    other = PlannedAiring(at(26), "cam-trung", "tin-tuc", at(26, 6, 30), 80, Origin.SCHEDULED)
    found = verdicts(records, now=WEDNESDAY, final_at=END, minimum=2, to_come=[thursday, other])
    assert (found["loa-01"].possible, found["loa-01"].at_risk) == (2, False)
    assert (found["loa-02"].possible, found["loa-02"].at_risk) == (1, True)


def test_other_programmes_airings_do_not_count() -> None:
    records = [airing(1, at(23), {"loa-01": S.COMPLETED}, programme="tin-tuc")]
    assert verdicts(records)["loa-01"].reason == "no airing planned"


def test_describe_commands_counts_repeated_outcomes() -> None:
    commands = [
        CommandRecord("c1", "loa-01", S.EXPIRED),
        CommandRecord("c2", "loa-01", S.EXPIRED),
        CommandRecord("c3", "loa-01", S.FAILED, "device"),
    ]
    assert describe_commands(commands) == "3 commands: expired ×2, failed (device)"


def test_a_command_waiting_for_its_dispatch_is_not_called_never_accepted() -> None:
    """In a week that is not over, a pending command (a make-up planned for tomorrow, say) has
    simply not been sent yet; only once the week is over was it never accepted by the broker."""
    pending = [CommandRecord("c1", "loa-01", S.PENDING)]
    assert describe_commands(pending, final=False) == "1 command: not yet accepted by the broker"
    assert describe_commands(pending, final=True) == "1 command: never accepted by the broker"


def test_missed_airings_are_named_oldest_first_three_at_most() -> None:
    """The words for airings missed while no service ran, in every reason."""
    starts = [datetime(2025, 11, d, 6, 0, tzinfo=HCM) for d in (27, 25, 26, 28)]
    assert missed_words(starts[:1], HCM) == (
        "1 airing missed while the service was not running (2025-11-27 06:00)"
    )
    assert missed_words(starts, HCM) == (
        "4 airings missed while the service was not running (2025-11-25 06:00, "
        "2025-11-26 06:00, 2025-11-27 06:00, …)"
    )
    assert missed_words([], HCM) == ""


def test_records_check_themselves() -> None:
    naive = datetime(2026, 11, 23, 6, 0)
    with pytest.raises(ValueInvalid, match="timezone-aware"):
        airing(1, naive, {})
    with pytest.raises(ValueInvalid, match="filed under 'loa-01' is for 'loa-02'"):
        AiringRecord(
            1,
            "cam-trung",
            "kh179",
            at(23),
            at(23, 6, 30),
            Origin.SCHEDULED,
            Priority.NORMAL,
            {"loa-01": CommandRecord("c1", "loa-02", S.SENT)},
        )
    with pytest.raises(ValueInvalid, match="its receiver is empty"):
        CommandRecord("c1", "", S.SENT)
    with pytest.raises(ValueInvalid, match="cannot be negative"):
        WeekCloseRow("cam-trung", "kh179", "loa-01", -1, 1, False)
    assert missed(1, at(23)).missed
    assert not airing(1, at(23), {"loa-01": S.EXPIRED}, outcome=MISSED).missed
