"""A small station for the storage tests: two wards of Cẩm Phả, one programme (Plan 179)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage.records import NewCommand, ParsedAck, SendOutcome
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.snapshot import (
    ConfigSnapshot,
    SnapshotFile,
    SnapshotProgramme,
    SnapshotReceiver,
    SnapshotWard,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
AUDIO = "ab" * 32
WEEK = IsoWeek(2025, 48)  # Monday 2025-11-24 .. Sunday 2025-11-30
MONDAY = WEEK.monday
AFTER_WEEK = datetime(2025, 12, 8, tzinfo=UTC)  # the week is over
DURATION_S = 612.4


def snapshot(
    *,
    cam_trung: tuple[tuple[str, bool], ...] = (
        ("loa-01", True),
        ("loa-02", True),
        ("loa-03", False),
    ),
    min_per_week: int = 1,
    campaign_from: date | None = date(2022, 7, 4),
    campaign_until: date | None = None,
    ward_text: str = "id: cam-trung\n",
) -> ConfigSnapshot:
    files = (
        SnapshotFile("config/ipfm.yaml", "station", "timezone: Asia/Ho_Chi_Minh\n"),
        SnapshotFile("config/wards/cam-trung.yaml", "ward", ward_text),
        SnapshotFile("config/wards/cua-ong.yaml", "ward", "id: cua-ong\n"),
    )
    programme = SnapshotProgramme(
        "kh179",
        "Kế hoạch 179-KH/TU",
        min_per_week,
        DURATION_S,
        AUDIO,
        campaign_from,
        campaign_until,
    )
    wards = (
        SnapshotWard(
            "cam-trung",
            "Phường Cẩm Trung",
            tuple(SnapshotReceiver(r, on, f"Tổ {i}") for i, (r, on) in enumerate(cam_trung, 1)),
        ),
        SnapshotWard("cua-ong", "Phường Cửa Ông", (SnapshotReceiver("loa-01", True),)),
    )
    return ConfigSnapshot("Asia/Ho_Chi_Minh", files, (programme,), wards)


def planned(
    ward: str = "cam-trung",
    day: date = MONDAY,
    hour: int = 6,
    minute: int = 0,
    *,
    origin: Origin = Origin.SCHEDULED,
    programme: str = "kh179",
) -> PlannedAiring:
    start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN)
    return PlannedAiring(start, ward, programme, start + timedelta(minutes=30), 80, origin)


def command(receiver: str, airing_id: int, ward: str = "cam-trung") -> NewCommand:
    cid = f"cmd-{airing_id}-{receiver}"
    payload = f'{{"v":1,"type":"play","id":"{cid}","title":"Kế hoạch 179"}}'.encode()
    return NewCommand(cid, receiver, f"ipfm/{ward}/{receiver}/cmd", payload)


def ack(command_id: str, status: AckStatus, detail: str | None = None) -> ParsedAck:
    at = datetime(2025, 11, 24, 6, 10, tzinfo=VN)
    return ParsedAck(
        command_id, status, at, at.isoformat(), detail, 612.4 if detail is None else None
    )


class World:
    """Records a snapshot, and airings with commands, as the service would."""

    def __init__(self, repo: Repository, config: ConfigSnapshot | None = None) -> None:
        self.repo = repo
        self.now = datetime(2025, 11, 21, 0, 0, tzinfo=UTC)
        self.snapshot_id = repo.record_config(config or snapshot(), now=self.now)

    def airing(
        self, receivers: tuple[str, ...] = ("loa-01", "loa-02"), **kwargs: object
    ) -> tuple[int, list[str]]:
        """An airing with a command per receiver, each accepted by the broker."""
        plan = planned(**kwargs)  # type: ignore[arg-type]
        airing_id, _ = self.repo.ensure_airing(
            plan,
            priority=Priority.NORMAL,
            audio_sha256=AUDIO,
            snapshot_id=self.snapshot_id,
            now=self.now,
        )
        ids = self.repo.add_commands(
            airing_id, [command(r, airing_id, plan.ward) for r in receivers], now=self.now
        )
        for cid in ids:
            self.repo.record_send(
                cid, now=plan.start - timedelta(minutes=2), outcome=SendOutcome.PUBACK
            )
        return airing_id, ids

    def answer(
        self,
        ward: str,
        receiver: str,
        command_id: str,
        *statuses: AckStatus,
        detail: str | None = None,
    ) -> None:
        for status in statuses:
            self.repo.record_ack(
                ward, receiver, b"{}", ack(command_id, status, detail), now=self.now
            )
