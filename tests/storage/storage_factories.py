"""A small station for the storage tests: two wards of Cẩm Phả, one programme (Plan 179)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.traffic import (
    AckOutcome,
    AiringToStore,
    IncomingAck,
    IncomingStatus,
    NewCommand,
    SendOutcome,
    SendResult,
)
from ipfm_scheduler.core.weeks import IsoWeek
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


@dataclass(frozen=True, slots=True)
class Answer:
    """An ack as the protocol parser hands it on (what the airing log reads of one), without
    the parser's checks: the storage must also cope with an id that is not valid."""

    id: str
    status: AckStatus
    at: datetime
    detail: str | None = None
    played_s: float | None = None
    at_text: str = ""


def ack(command_id: str, status: AckStatus, detail: str | None = None) -> Answer:
    at = datetime(2025, 11, 24, 6, 10, tzinfo=VN)
    return Answer(command_id, status, at, detail, 612.4 if detail is None else None, at.isoformat())


def incoming(
    ward: str, receiver: str, parsed: Answer | str, raw: bytes = b"{}", topic: str | None = None
) -> IncomingAck:
    """An ack heard on ``ward``/``receiver``'s topic: parsed (and its signature checked, as a
    version 2 receiver's is), or why it could not be read."""
    where = topic or f"{ward}/{receiver}/ack"
    if isinstance(parsed, str):
        return IncomingAck(ward, receiver, where, raw, error=parsed)
    return IncomingAck(ward, receiver, where, raw, ack=parsed, verified=True)


def file_ack(
    repo: Repository,
    ward: str,
    receiver: str,
    raw: bytes,
    parsed: Answer | str,
    *,
    now: datetime,
    topic: str | None = None,
) -> AckOutcome:
    """File one ack (a batch of one): what the parser made of ``raw``, or why it could not."""
    return repo.record_acks([incoming(ward, receiver, parsed, raw, topic)], now=now)[0]


def record_status(
    repo: Repository,
    ward: str,
    receiver: str,
    state: str,
    *,
    at: datetime | None,
    now: datetime,
    fw: str | None,
    raw: bytes,
) -> bool:
    """Record one live status message (a batch of one); True if it changed something."""
    heard = IncomingStatus(ward, receiver, state == "online", at, fw, raw)
    return repo.record_statuses([heard], now=now)[0]


def store_one(
    repo: Repository, snapshot_id: int, plan: PlannedAiring, now: datetime, **kwargs: object
) -> int:
    """Store one airing (a batch of one) with no commands; returns its id."""
    item = AiringToStore(plan, Priority.NORMAL, AUDIO, **kwargs)  # type: ignore[arg-type]
    (stored,) = repo.store_airings([item], snapshot_id=snapshot_id, now=now)
    return stored.airing_id


def add_commands(
    repo: Repository,
    snapshot_id: int,
    plan: PlannedAiring,
    commands: list[NewCommand],
    now: datetime,
) -> None:
    """Store ``commands`` for the airing of ``plan`` (stored again: it keeps its id)."""
    item = AiringToStore(plan, Priority.NORMAL, AUDIO, tuple(commands))
    repo.store_airings([item], snapshot_id=snapshot_id, now=now)


class World:
    """Records a snapshot, and airings with commands, as the service would."""

    def __init__(self, repo: Repository, config: ConfigSnapshot | None = None) -> None:
        self.repo = repo
        self.now = datetime(2025, 11, 21, 0, 0, tzinfo=UTC)
        self.snapshot_id = repo.record_snapshot(config or snapshot(), now=self.now)

    def airing(
        self, receivers: tuple[str, ...] = ("loa-01", "loa-02"), **kwargs: object
    ) -> tuple[int, list[str]]:
        """An airing with a command per receiver, each accepted by the broker."""
        plan = planned(**kwargs)  # type: ignore[arg-type]
        airing_id = store_one(self.repo, self.snapshot_id, plan, self.now)
        commands = [command(r, airing_id, plan.ward) for r in receivers]
        add_commands(self.repo, self.snapshot_id, plan, commands, self.now)
        ids = [c.id for c in commands]
        self.repo.record_sends(
            [SendResult(cid, SendOutcome.PUBACK) for cid in ids],
            now=plan.start - timedelta(minutes=2),
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
            self.repo.record_acks(
                [incoming(ward, receiver, ack(command_id, status, detail))], now=self.now
            )


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement ``engine`` sends meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
