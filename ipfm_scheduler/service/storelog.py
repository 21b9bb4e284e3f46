"""The airing log port (``ports.AiringLog``) over the storage package's repository.

A thin translation: the dispatcher's values in, the repository's batch methods underneath (one
transaction per call), the dispatcher's values out. No SQL here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from ipfm_scheduler import __version__
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Origin, Priority, Programme, Receiver, Ward
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.service.ports import (
    AckLike,
    AckOutcome,
    AiringRecord,
    AiringToStore,
    CommandRecord,
    CommandRef,
    ConfigInForce,
    IncomingAck,
    IncomingStatus,
    LiveInstance,
    ManualRequest,
    OutgoingCommand,
    RequestState,
    SendResult,
    StaleRequest,
    StoredAiring,
    WeekCloseRow,
)
from ipfm_scheduler.storage import records as rec
from ipfm_scheduler.storage.repo_answers import AckBatchItem, StatusBatchItem
from ipfm_scheduler.storage.repo_batch import AiringBatchItem
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.snapshot import snapshot_from_config

STALLED_FACTOR = 4  # a received/playing command with no final answer is asked again this often


class StoreLog:
    """``ports.AiringLog`` (plus what the daemon needs) backed by a storage ``Repository``."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    # ---------------------------------------------------------------- configuration, instance

    def record_config(self, loaded: LoadedConfig, *, now: datetime) -> int:
        return self.repo.record_config(snapshot_from_config(loaded), now=now)

    def start_instance(self, *, host: str, pid: int, now: datetime) -> int:
        return self.repo.start_instance(host=host, pid=pid, version=__version__, now=now)

    def live_instance(self, now: datetime, within: timedelta) -> LiveInstance | None:
        found = self.repo.live_instance(now, within)
        return None if found is None else LiveInstance(found.host, found.pid, found.last_beat_at)

    def heartbeat(self, instance_id: int, now: datetime) -> None:
        self.repo.heartbeat(instance_id, now)

    def stop_instance(self, instance_id: int, now: datetime) -> None:
        self.repo.stop_instance(instance_id, now)

    def close(self) -> None:
        self.repo.engine.dispose()

    # ---------------------------------------------------------------- airings and commands

    def store_airings(
        self, items: Sequence[AiringToStore], *, snapshot_id: int | None, now: datetime
    ) -> list[StoredAiring]:
        if not items:
            return []
        if snapshot_id is None:
            raise ValueInvalid("airings are recorded with the configuration snapshot in force")
        batch = [_batch_item(item) for item in items]
        stored = self.repo.store_airings(batch, snapshot_id=snapshot_id, now=now)
        return [StoredAiring(s.airing_id, s.created, s.commands_added) for s in stored]

    def commands_to_send(
        self, now: datetime, *, resend_after: timedelta, due_by: datetime, limit: int
    ) -> list[OutgoingCommand]:
        found = self.repo.commands_to_send(
            now,
            resend_after=resend_after,
            limit=limit,
            due_by=due_by,
            stalled_after=resend_after * STALLED_FACTOR,
        )
        return [
            OutgoingCommand(
                c.id,
                c.ward,
                c.receiver,
                c.topic,
                c.payload,
                c.expires_at,
                resend=c.state is not CommandState.PENDING,
            )
            for c in found
        ]

    def record_sends(self, results: Sequence[SendResult], *, now: datetime) -> None:
        batch = [(r.command_id, rec.SendOutcome(r.outcome.value)) for r in results]
        self.repo.record_sends(batch, now=now)

    def expire_overdue(self, now: datetime, *, grace: timedelta) -> list[CommandRef]:
        expired = self.repo.expire_overdue(now, grace=grace)
        if not expired:
            return []
        return [CommandRef(*ref) for ref in self.repo.commands_by_id(expired)]

    # ---------------------------------------------------------------- receivers

    def record_acks(self, acks: Sequence[IncomingAck], *, now: datetime) -> list[AckOutcome]:
        batch = [
            AckBatchItem(
                a.ward,
                a.receiver,
                a.topic,
                a.raw,
                _parsed(a.ack, a.raw) if a.ack is not None else (a.error or "unreadable"),
            )
            for a in acks
        ]
        outcomes = self.repo.record_acks(batch, now=now)
        return [
            AckOutcome(
                o.command_id,
                a.ward,
                a.receiver,
                o.state,
                o.kind is rec.AckKind.STORED,
                o.reason if o.kind is rec.AckKind.QUARANTINED else None,
            )
            for a, o in zip(acks, outcomes, strict=True)
        ]

    def quarantine(
        self, topic: str, ward: str, receiver: str, raw: bytes, reason: str, *, now: datetime
    ) -> None:
        self.repo.quarantine(topic, ward, receiver, raw, reason, now=now)

    def record_statuses(self, statuses: Sequence[IncomingStatus], *, now: datetime) -> list[bool]:
        on, off = rec.ReceiverState.ONLINE, rec.ReceiverState.OFFLINE
        batch = [
            StatusBatchItem(
                s.ward, s.receiver, on if s.online else off, s.at, s.fw, s.raw, s.retained
            )
            for s in statuses
        ]
        return self.repo.record_statuses(batch, now=now)

    def offline_receivers(self) -> dict[tuple[str, str], datetime]:
        return self.repo.offline_receivers()

    # ---------------------------------------------------------------- the week

    def airings_between(
        self, start: datetime, end: datetime, wards: Collection[str] | None = None
    ) -> list[AiringRecord]:
        return [
            AiringRecord(
                a.id,
                a.ward,
                a.programme,
                a.start,
                a.expires_at,
                Origin(a.origin),
                Priority(a.priority),
                {
                    c.receiver: CommandRecord(c.id, c.receiver, c.state, c.detail)
                    for c in a.commands
                },
                a.outcome,
                a.makeup_for,
            )
            for a in self.repo.airings_with_commands(start, end, wards)
        ]

    def last_closed_week(self) -> IsoWeek | None:
        return self.repo.last_closed_week()

    def earliest_airing(self) -> datetime | None:
        return self.repo.earliest_airing()

    def config_in_force(self, moment: datetime) -> ConfigInForce | None:
        found = self.repo.plan_in_force(moment)
        if found is None:
            return None
        snapshot_id, plan = found
        programmes = {
            p.id: Programme(
                p.id, p.title, "", p.duration_s, p.min_per_week, p.campaign_from, p.campaign_until
            )
            for p in plan.programmes.values()
        }
        wards = {
            ward: Ward(
                ward,
                plan.ward_names.get(ward, ward),
                tuple(Receiver(r.id, r.location, r.enabled) for r in receivers),
                (),
                (),
            )
            for ward, receivers in plan.receivers.items()
        }
        return ConfigInForce(snapshot_id, wards, programmes)

    def record_week_close(
        self,
        week: IsoWeek,
        rows: Sequence[WeekCloseRow],
        *,
        now: datetime,
        snapshot_id: int | None = None,
    ) -> None:
        grouped: dict[tuple[str, str], list[rec.WeekCloseRow]] = defaultdict(list)
        for row in rows:
            grouped[(row.ward, row.programme)].append(
                rec.WeekCloseRow(row.receiver, row.completed, row.minimum, row.reason)
            )
        for (ward, programme), closed in sorted(grouped.items()):
            self.repo.record_week_close(
                ward, programme, week, closed, now=now, snapshot_id=snapshot_id
            )

    # ---------------------------------------------------------------- manual requests

    def take_requests(self, now: datetime) -> list[ManualRequest]:
        return [_manual(r) for r in self.repo.take_requests(now)]

    def stale_requests(self, taken_before: datetime) -> list[StaleRequest]:
        return [
            StaleRequest(_manual(r), taken_at, airing_id)
            for r, taken_at, airing_id in self.repo.stale_requests(taken_before)
        ]

    def finish_request(
        self,
        request_id: int,
        *,
        state: RequestState,
        message: str,
        airing_id: int | None,
        now: datetime,
    ) -> None:
        self.repo.finish_request(
            request_id,
            rec.RequestState(state.value),
            now=now,
            airing_id=airing_id,
            message=message,
        )


def _manual(r: rec.RequestRecord) -> ManualRequest:
    return ManualRequest(
        r.id,
        r.request.ward,
        r.request.programme,
        Priority(r.request.priority),
        r.request.receiver,
        r.request.start,
        r.requested_at,
        r.request.requested_by,
    )


def _batch_item(item: AiringToStore) -> AiringBatchItem:
    planned = item.planned
    makeup_week = (
        IsoWeek.containing(planned.start, planned.zone) if planned.origin is Origin.MAKEUP else None
    )
    return AiringBatchItem(
        planned,
        item.priority,
        item.audio_sha256,
        tuple(rec.NewCommand(c.id, c.receiver, c.topic, c.payload) for c in item.commands),
        missed=item.missed,
        makeup_for=item.makeup_for,
        makeup_week=makeup_week,
        note=item.note,
        request_id=item.request_id,
    )


def _parsed(ack: AckLike, raw: bytes) -> rec.ParsedAck:
    return rec.ParsedAck(
        ack.id, AckStatus(str(ack.status)), ack.at, _at_text(ack, raw), ack.detail, ack.played_s
    )


def _at_text(ack: AckLike, raw: bytes) -> str:
    """The ack's time exactly as the receiver wrote it (the parser keeps only its value)."""
    try:
        text = json.loads(raw).get("at")
    except (ValueError, AttributeError):
        text = None
    return text if isinstance(text, str) else ack.at.isoformat()
