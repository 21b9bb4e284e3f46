"""The weekly report's rules that auditors rely on: when a week's verdict is final, missed
airings named as such, a filtered report agreeing with the whole one, consistent counts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ipfm_scheduler.cli import status_view
from ipfm_scheduler.cli.audit_render import report_json
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import AiringToStore
from ipfm_scheduler.service import dispatch, weekly
from ipfm_scheduler.storage import report as report_module
from ipfm_scheduler.storage.report import Standing, WeekReport, week_report
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import AUDIO, VN, WEEK, World, planned, snapshot

SUNDAY = date(2025, 11, 30)
WEEK_END = datetime(2025, 12, 1, 0, 0, tzinfo=VN)
MISSED_NOTE = "window closed before it could be sent (service not running)"


def report(repo: Repository, now: datetime, **filters: str) -> WeekReport:
    with repo.engine.connect() as conn:
        return week_report(conn, WEEK, now=now, **filters)  # type: ignore[arg-type]


def receiver_lines(result: WeekReport) -> dict[tuple[str, str], tuple[Standing, int, str]]:
    return {
        (g.ward, r.receiver): (r.standing, r.commands_sent, r.reason)
        for g in result.groups
        for r in g.receivers
    }


def missed_airing(world: World, ward: str, day: date, hour: int = 6) -> None:
    item = AiringToStore(
        planned(ward, day, hour), Priority.NORMAL, AUDIO, missed=True, note=MISSED_NOTE
    )
    world.repo.store_airings([item], snapshot_id=world.snapshot_id, now=world.now)


def test_the_report_waits_as_long_as_the_service_before_closing_a_week():
    """The report must never call a week final sooner than the service closes it: both take
    the expiry grace and the closing margin from core.compliance."""
    assert report_module.EXPIRE_GRACE is dispatch.EXPIRE_GRACE
    assert report_module.CLOSE_MARGIN is weekly.CLOSE_MARGIN


def test_a_week_that_just_ended_with_a_command_still_playing_is_pending_not_short(
    repo: Repository,
):
    """An airing at Sunday 23:58 may still complete after midnight: until its command can no
    longer change (expires_at 00:28 + the recording 612.4 s + grace 2 min + margin 5 min), the
    week's verdict is pending, and only then short."""
    world = World(repo)
    _, (one, two) = world.airing(day=SUNDAY, hour=23, minute=58)
    world.answer("cam-trung", "loa-01", one, AckStatus.PLAYING)
    world.answer("cam-trung", "loa-02", two, AckStatus.COMPLETED)
    final_at = datetime(2025, 12, 1, 0, 45, 12, 400000, tzinfo=VN)

    just_ended = report(repo, WEEK_END + timedelta(minutes=1), ward="cam-trung")
    assert receiver_lines(just_ended)[("cam-trung", "loa-01")][0] is Standing.PENDING
    assert (just_ended.finished, just_ended.short) == (False, False)
    assert (just_ended.ended, just_ended.final_at) == (True, final_at)

    still_settling = report(repo, final_at - timedelta(seconds=1), ward="cam-trung")
    assert not still_settling.finished
    settled = report(repo, final_at, ward="cam-trung")
    assert (settled.finished, settled.short) == (True, True)


def test_with_every_command_final_the_week_closes_when_the_service_would(repo: Repository):
    """No command open: final at the week's end + the longest programme + grace + margin."""
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    world.answer("cam-trung", "loa-02", two, AckStatus.FAILED, detail="device")
    closes = WEEK_END + timedelta(seconds=612.4, minutes=7)
    assert not report(repo, closes - timedelta(seconds=1), ward="cam-trung").short
    assert report(repo, closes, ward="cam-trung").short
    assert report(repo, WEEK_END + timedelta(minutes=1), ward="cam-trung").final_at == closes


def test_a_missed_airing_is_named_in_the_reason(repo: Repository):
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    world.answer("cam-trung", "loa-02", two, AckStatus.FAILED, detail="device")
    for day in (25, 26, 27, 28):
        missed_airing(world, "cua-ong", date(2025, 11, day))
    missed_airing(world, "cam-trung", date(2025, 11, 26))
    found = receiver_lines(report(repo, datetime(2025, 12, 8, tzinfo=VN)))
    assert found[("cua-ong", "loa-01")][2] == (
        "no command sent: 4 airings missed while the service was not running "
        "(2025-11-25 06:00, 2025-11-26 06:00, 2025-11-27 06:00, …)"
    )
    assert found[("cam-trung", "loa-02")][2] == (
        "1 command: failed (device); 1 airing missed while the service was not running "
        "(2025-11-26 06:00)"
    )


def test_a_report_filtered_to_a_ward_with_no_airing_gives_the_same_row_as_the_whole_one(
    repo: Repository,
):
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    world.answer("cam-trung", "loa-02", two, AckStatus.COMPLETED)
    after = datetime(2025, 12, 8, tzinfo=VN)
    whole = receiver_lines(report(repo, after))
    filtered = report(repo, after, ward="cua-ong")
    assert filtered.recorded
    assert receiver_lines(filtered) == {("cua-ong", "loa-01"): whole[("cua-ong", "loa-01")]}
    assert whole[("cua-ong", "loa-01")] == (Standing.SHORT, 0, "no airing planned")


def test_the_wards_commands_sent_is_the_sum_over_the_receivers_listed(repo: Repository):
    """loa-02 was disabled mid-week: its command is not counted in the ward's figure either."""
    world = World(repo)
    world.airing()  # loa-01 and loa-02
    later = snapshot(cam_trung=(("loa-01", True), ("loa-02", False)))
    world.snapshot_id = repo.record_snapshot(later, now=datetime(2025, 11, 26, tzinfo=VN))
    world.airing(receivers=("loa-01",), day=date(2025, 11, 27))
    result = report(repo, datetime(2025, 12, 8, tzinfo=VN), ward="cam-trung")
    (group,) = result.groups
    assert [r.receiver for r in group.receivers] == ["loa-01"]
    assert group.commands_sent == sum(r.commands_sent for r in group.receivers) == 2


def test_json_says_pending_not_compliant_while_the_verdict_is_not_final(repo: Repository):
    world = World(repo)
    _, (one, _) = world.airing(day=SUNDAY, hour=23, minute=58)
    world.answer("cam-trung", "loa-01", one, AckStatus.PLAYING)
    doc = report_json(report(repo, WEEK_END + timedelta(minutes=1), ward="cam-trung"))
    assert (doc["finished"], doc["verdict"]) == (False, "pending")
    assert doc["final_at"] == "2025-12-01T00:45:12+07:00"


def test_the_service_status_and_report_call_one_weekly_rule():
    """The words of the service's week-close reason, `status` and `report` come from one
    function (core.verdicts.receiver_verdicts, which the three import); that they agree on every
    week is tests/storage/test_verdicts_agree.py."""
    assert report_module.receiver_verdicts is weekly.receiver_verdicts  # one rule, not two
    assert status_view.receiver_verdicts is weekly.receiver_verdicts
