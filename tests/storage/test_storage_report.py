"""The auditors' answers: the weekly report, the airing log and the views, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.storage.audit import LogFilter, airing_log, station_zone
from ipfm_scheduler.storage.report import Standing, WeekReport, week_report
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import (
    AFTER_WEEK,
    MONDAY,
    VN,
    WEEK,
    World,
    planned,
    record_status,
    snapshot,
    store_one,
)

C, F = AckStatus.COMPLETED, AckStatus.FAILED


def report(repo: Repository, now: datetime = AFTER_WEEK, **filters: str) -> WeekReport:
    with repo.engine.connect() as conn:
        return week_report(conn, WEEK, now=now, **filters)  # type: ignore[arg-type]


def status(repo: Repository, receiver: str, state: str, now: datetime) -> None:
    record_status(repo, "cam-trung", receiver, state, at=None, now=now, fw=None, raw=b"")


def lines(result: WeekReport) -> dict[tuple[str, str], tuple[str, int, str]]:
    return {
        (g.ward, r.receiver): (r.standing.value, r.completed, r.reason)
        for g in result.groups
        for r in g.receivers
    }


def test_a_compliant_and_a_short_receiver_with_the_failure_detail(repo: Repository):
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.RECEIVED, AckStatus.PLAYING, C)
    world.answer("cam-trung", "loa-02", two, F, detail="device")
    result = report(repo)
    assert result.recorded
    assert result.finished
    assert result.short
    found = lines(result)
    assert found[("cam-trung", "loa-01")] == ("compliant", 1, "")
    assert found[("cam-trung", "loa-02")] == ("short", 0, "1 command: failed (device)")
    assert ("cam-trung", "loa-03") not in found  # disabled: not counted
    group = next(g for g in result.groups if g.ward == "cam-trung")
    assert (group.ward_name, group.title, group.minimum, group.enforced) == (
        "Phường Cẩm Trung",
        "Kế hoạch 179-KH/TU",
        1,
        True,
    )
    assert (group.airings_planned, group.commands_sent, group.receivers_ok) == (1, 2, 1)
    assert group.standing is Standing.SHORT


def test_a_ward_the_configuration_expects_but_with_no_airing_is_short(repo: Repository):
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, C)
    world.answer("cam-trung", "loa-02", two, C)
    result = report(repo)
    assert lines(result)[("cua-ong", "loa-01")] == ("short", 0, "no airing planned")
    cam_trung = next(g for g in result.groups if g.ward == "cam-trung")
    assert cam_trung.standing is Standing.COMPLIANT


def test_reasons_name_offline_time_missing_commands_and_rejections(repo: Repository):
    world = World(repo)
    _, (one,) = world.airing(receivers=("loa-01",))
    world.answer("cam-trung", "loa-01", one, AckStatus.REJECTED, detail="expired")
    offline_at = datetime(2025, 11, 26, 6, 2, tzinfo=VN)
    record_status(
        repo,
        "cam-trung",
        "loa-02",
        "online",
        at=None,
        now=offline_at - timedelta(days=9),
        fw=None,
        raw=b"",
    )
    record_status(repo, "cam-trung", "loa-02", "offline", at=None, now=offline_at, fw=None, raw=b"")
    found = lines(report(repo, ward="cam-trung"))
    assert found[("cam-trung", "loa-01")] == ("short", 0, "1 command: rejected (expired)")
    assert found[("cam-trung", "loa-02")] == (
        "short",
        0,
        "offline since 2025-11-26 06:02; no command sent",
    )


def test_an_offline_receiver_that_came_back_before_the_week_ended_is_not_called_offline(
    repo: Repository,
):
    world = World(repo)
    world.airing()
    repo.expire_overdue(AFTER_WEEK, grace=timedelta(minutes=5))
    monday = datetime(2025, 11, 24, 5, 0, tzinfo=VN)
    record_status(repo, "cam-trung", "loa-02", "offline", at=None, now=monday, fw=None, raw=b"")
    record_status(
        repo,
        "cam-trung",
        "loa-02",
        "online",
        at=None,
        now=monday + timedelta(hours=3),
        fw=None,
        raw=b"",
    )
    assert lines(report(repo))[("cam-trung", "loa-02")][2] == "1 command: expired"


def test_while_the_week_runs_a_receiver_below_the_minimum_is_pending_not_short(repo: Repository):
    world = World(repo)
    world.airing()
    wednesday = datetime(2025, 11, 26, 12, 0, tzinfo=VN)
    result = report(repo, now=wednesday)
    assert not result.finished
    assert not result.short
    assert lines(result)[("cam-trung", "loa-01")] == ("pending", 0, "1 command: sent, no answer")
    assert lines(result)[("cua-ong", "loa-01")][2] == "no airing planned yet"


def test_a_week_the_campaign_covers_only_in_part_is_reported_not_enforced(repo: Repository):
    world = World(repo, snapshot(campaign_from=date(2025, 11, 26)))
    world.airing(day=date(2025, 11, 27))
    result = report(repo)
    assert not result.short
    group = next(g for g in result.groups if g.ward == "cam-trung")
    assert not group.enforced
    assert group.standing is Standing.NOT_ENFORCED


def test_a_week_with_nothing_recorded_says_so(repo: Repository):
    World(repo)
    with repo.engine.connect() as conn:
        result = week_report(conn, WEEK.previous(), now=AFTER_WEEK)
    assert not result.recorded


def test_the_minimum_and_receivers_come_from_the_configuration_that_planned_the_week(
    repo: Repository,
):
    """loa-02 was disabled in the configuration in force: it is not counted, even though a later
    configuration (loaded after the week) enables it."""
    world = World(repo, snapshot(cam_trung=(("loa-01", True), ("loa-02", False))))
    _, (one,) = world.airing(receivers=("loa-01",))
    world.answer("cam-trung", "loa-01", one, C)
    repo.record_snapshot(snapshot(), now=AFTER_WEEK)
    found = lines(report(repo, ward="cam-trung"))
    assert set(found) == {("cam-trung", "loa-01")}


def test_makeups_are_counted_and_filters_narrow_the_report(repo: Repository):
    world = World(repo)
    _, (one, _) = world.airing()
    _, (_, two) = world.airing(day=date(2025, 11, 28), hour=17, origin=Origin.MAKEUP)
    world.answer("cam-trung", "loa-01", one, C)
    world.answer("cam-trung", "loa-02", two, C)
    result = report(repo, ward="cam-trung", programme="kh179")
    (group,) = result.groups
    assert (group.airings_planned, group.makeups, group.standing) == (2, 1, Standing.COMPLIANT)
    assert report(repo, programme="other").groups == ()


def test_the_weekly_compliance_view_agrees_with_the_report(repo: Repository):
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, C)
    world.answer("cam-trung", "loa-02", two, F, detail="device")
    with repo.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ward, receiver, airings_planned, commands_sent, completed, minimum, "
                "enforced, verdict FROM weekly_compliance WHERE week = '2025-W48' ORDER BY receiver"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("cam-trung", "loa-01", 1, 1, 1, 1, 1, "compliant"),
        ("cam-trung", "loa-02", 1, 1, 0, 1, 1, "short"),
    ]
    found = lines(report(repo, ward="cam-trung"))
    assert {r.receiver: r.verdict for r in rows} == {k[1]: v[0] for k, v in found.items()}


def test_the_airing_log_view_has_a_row_per_airing_and_receiver(repo: Repository):
    world = World(repo)
    world.airing()
    # an airing without commands still shows, with no receiver
    store_one(repo, world.snapshot_id, planned(hour=17), world.now)
    with repo.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT planned_local, receiver, command_state FROM airing_log "
                "ORDER BY planned_start_utc, receiver"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("2025-11-24T06:00:00+07:00", "loa-01", "sent"),
        ("2025-11-24T06:00:00+07:00", "loa-02", "sent"),
        ("2025-11-24T17:00:00+07:00", None, None),
    ]


def test_the_log_lists_airings_oldest_first_with_filters(repo: Repository):
    world = World(repo)
    world.airing(day=date(2025, 11, 27))
    world.airing(day=MONDAY)
    world.airing(ward="cua-ong", receivers=("loa-01",))
    with repo.engine.connect() as conn:
        zone = station_zone(conn)
        everything = airing_log(conn, LogFilter())
        mine = airing_log(conn, LogFilter(ward="cam-trung", receiver="loa-02"))
        thursday = datetime(2025, 11, 27, tzinfo=VN)
        later = airing_log(conn, LogFilter(start=thursday, end=thursday + timedelta(days=1)))
    assert str(zone) == "Asia/Ho_Chi_Minh"
    assert [r.planned_start for r in everything] == sorted(r.planned_start for r in everything)
    assert len(everything) == 5
    assert [(r.ward, r.receiver, r.planned_local[:10]) for r in mine] == [
        ("cam-trung", "loa-02", "2025-11-24"),
        ("cam-trung", "loa-02", "2025-11-27"),
    ]
    assert {r.planned_local[:10] for r in later} == {"2025-11-27"}
    assert all(r.first_sent_at is not None and r.first_sent_at.tzinfo is UTC for r in everything)
