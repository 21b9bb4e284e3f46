"""Receivers' status, week closures, manual requests and the service's heartbeat."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row

from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import StorageError, ValueInvalid
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import RepositoryBase
from ipfm_scheduler.storage.records import (
    InstanceRecord,
    ManualRequest,
    ReceiverState,
    ReceiverStatusRecord,
    RequestRecord,
    RequestState,
    WeekCloseRow,
)
from ipfm_scheduler.storage.repo_commands import MAX_RAW_BYTES
from ipfm_scheduler.storage.types import safe_text, to_utc


class ServiceRepository(RepositoryBase):
    def record_status(
        self,
        ward: str,
        receiver: str,
        state: ReceiverState | str,
        *,
        at: datetime | None,
        now: datetime,
        fw: str | None,
        raw: bytes,
    ) -> bool:
        """Note a receiver's status message; returns True if its state (or firmware) changed.

        A change is kept as an event; a repeat only moves ``last_seen_at``. ``since`` is our time
        of the first message in that state. One message at a time, live; the service records
        its statuses with ``record_statuses``, which also knows retained (replayed) ones.
        """
        state, now = ReceiverState(state), to_utc(now, "now")
        online, fw = state is ReceiverState.ONLINE, safe_text(fw)
        rs = t.receiver_status
        key = (rs.c.ward == ward, rs.c.receiver == receiver)
        with self._write() as conn:
            current = conn.execute(select(rs).where(*key).with_for_update()).one_or_none()
            if fw is None and current is not None:
                fw = current.fw  # a status without `fw` (a last will, say) keeps the one known
            changed = current is None or current.online != online or current.fw != fw
            if changed:
                conn.execute(
                    t.receiver_status_events.insert().values(
                        ward=ward,
                        receiver=receiver,
                        state=state.value,
                        receiver_at=None if at is None else to_utc(at, "the status time"),
                        received_at=now,
                        fw=fw,
                        raw=raw[:MAX_RAW_BYTES],
                    )
                )
            since = now if current is None or current.online != online else current.since
            values = {"online": online, "since": since, "last_seen_at": now, "fw": fw}
            if current is None:
                conn.execute(rs.insert().values(ward=ward, receiver=receiver, **values))
            else:
                conn.execute(rs.update().where(*key).values(values))
        return changed

    def receivers_status(self) -> list[ReceiverStatusRecord]:
        """Every receiver that has ever reported, with its current state (for `status`)."""
        rs = t.receiver_status
        with self._read() as conn:
            rows = conn.execute(select(rs).order_by(rs.c.ward, rs.c.receiver)).all()
        return [
            ReceiverStatusRecord(r.ward, r.receiver, r.online, r.since, r.last_seen_at, r.fw)
            for r in rows
        ]

    def quarantined_count(self, since: datetime) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        t.ack_quarantine.c.received_at >= to_utc(since, "since")
                    )
                ).scalar_one()
            )

    def record_week_close(
        self,
        ward: str,
        programme: str,
        week: IsoWeek,
        rows: Iterable[WeekCloseRow],
        *,
        now: datetime,
        snapshot_id: int | None = None,
    ) -> None:
        """Keep the service's verdict per receiver for a closed week. Closing the same week
        again replaces the earlier verdict (a late ack may have changed a count)."""
        now = to_utc(now, "now")
        wc = t.week_closures
        with self._write() as conn:
            for row in rows:
                key = (
                    wc.c.ward == ward,
                    wc.c.programme == programme,
                    wc.c.week == str(week),
                    wc.c.receiver == row.receiver,
                )
                values = {
                    "completed": row.completed,
                    "minimum": row.minimum,
                    "verdict": row.verdict.value,
                    "reason": row.reason,
                    "snapshot_id": snapshot_id,
                    "closed_at": now,
                }
                done = conn.execute(wc.update().where(*key).values(values)).rowcount
                if not done:
                    conn.execute(
                        wc.insert()
                        .values(
                            ward=ward, programme=programme, week=str(week), receiver=row.receiver
                        )
                        .values(values)
                    )

    def queue_request(self, request: ManualRequest, *, now: datetime) -> int:
        """Queue a manual airing for the service (written by `ipfm-scheduler air`)."""
        with self._write() as conn:
            return int(
                conn.execute(
                    t.manual_requests.insert()
                    .values(
                        ward=request.ward,
                        receiver=request.receiver,
                        programme=request.programme,
                        priority=Priority(request.priority).value,
                        requested_start=None
                        if request.start is None
                        else to_utc(request.start, "the requested start"),
                        requested_at=to_utc(now, "now"),
                        requested_by=request.requested_by,
                        state=RequestState.QUEUED.value,
                    )
                    .returning(t.manual_requests.c.id)
                ).scalar_one()
            )

    def take_requests(self, now: datetime) -> list[RequestRecord]:
        """The queued requests, oldest first, now marked ``taken`` (each is handed out once)."""
        mr = t.manual_requests
        with self._write() as conn:
            ids = (
                conn.execute(
                    select(mr.c.id)
                    .where(mr.c.state == RequestState.QUEUED.value)
                    .order_by(mr.c.requested_at, mr.c.id)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            rows = conn.execute(
                mr.update()
                .where(mr.c.id.in_(ids), mr.c.state == RequestState.QUEUED.value)
                .values(state=RequestState.TAKEN.value, taken_at=to_utc(now, "now"))
                .returning(*mr.c)
            ).all()
        return sorted((_request(r) for r in rows), key=lambda r: (r.requested_at, r.id))

    def finish_request(
        self,
        request_id: int,
        state: RequestState | str,
        *,
        now: datetime,
        airing_id: int | None = None,
        message: str | None = None,
    ) -> None:
        """Close a request: ``done`` (with the airing it became) or ``refused`` (with why); or
        hand a taken one back: ``queued`` (with why: the service could not store its airing and
        takes it again)."""
        state = RequestState(state)
        if state not in (RequestState.DONE, RequestState.REFUSED, RequestState.QUEUED):
            raise ValueInvalid(
                f"a request is finished as done or refused, or queued again, not {state}"
            )
        values: dict[str, Any] = {"state": state.value, "airing_id": airing_id, "message": message}
        if state is RequestState.QUEUED:
            values["taken_at"] = None
        else:
            values["finished_at"] = to_utc(now, "now")
        mr = t.manual_requests
        with self._write() as conn:
            done = conn.execute(mr.update().where(mr.c.id == request_id).values(values)).rowcount
        if not done:
            raise StorageError(f"no manual request {request_id} in the database")

    def stale_requests(
        self, taken_before: datetime
    ) -> list[tuple[RequestRecord, datetime, int | None]]:
        """Requests still ``taken`` that were taken before ``taken_before`` (the service that
        took them stopped, or lost its database, before finishing them), oldest first, each
        with when it was taken and the airing stored for it, if one was (noted on the request
        when it was stored)."""
        mr = t.manual_requests
        with self._read() as conn:
            rows = conn.execute(
                select(mr)
                .where(
                    mr.c.state == RequestState.TAKEN.value,
                    mr.c.taken_at < to_utc(taken_before, "taken_before"),
                )
                .order_by(mr.c.requested_at, mr.c.id)
            ).all()
        return [(_request(r), r.taken_at, r.airing_id) for r in rows]

    def request(self, request_id: int) -> RequestRecord:
        with self._read() as conn:
            row = conn.execute(
                select(t.manual_requests).where(t.manual_requests.c.id == request_id)
            ).one_or_none()
        if row is None:
            raise StorageError(f"no manual request {request_id} in the database")
        return _request(row)

    def requests_since(self, since: datetime, *, limit: int) -> list[RequestRecord]:
        """The requests queued at or after ``since``, newest first, at most ``limit``."""
        mr = t.manual_requests
        with self._read() as conn:
            rows = conn.execute(
                select(mr)
                .where(mr.c.requested_at >= to_utc(since, "since"))
                .order_by(mr.c.requested_at.desc(), mr.c.id.desc())
                .limit(limit)
            ).all()
        return [_request(r) for r in rows]

    def start_instance(self, *, host: str, pid: int, version: str, now: datetime) -> int:
        """Note that a service started; returns its instance id (for heartbeats)."""
        now = to_utc(now, "now")
        with self._write() as conn:
            return int(
                conn.execute(
                    t.service_instances.insert()
                    .values(host=host, pid=pid, version=version, started_at=now, last_beat_at=now)
                    .returning(t.service_instances.c.id)
                ).scalar_one()
            )

    def heartbeat(self, instance_id: int, now: datetime) -> None:
        si = t.service_instances
        with self._write() as conn:
            conn.execute(
                si.update().where(si.c.id == instance_id).values(last_beat_at=to_utc(now, "now"))
            )

    def stop_instance(self, instance_id: int, now: datetime) -> None:
        si = t.service_instances
        now = to_utc(now, "now")
        with self._write() as conn:
            conn.execute(
                si.update().where(si.c.id == instance_id).values(stopped_at=now, last_beat_at=now)
            )

    def live_instance(self, now: datetime, within: timedelta) -> InstanceRecord | None:
        """The newest running service whose last heartbeat is at most ``within`` old."""
        si = t.service_instances
        with self._read() as conn:
            row = conn.execute(
                select(si)
                .where(si.c.stopped_at.is_(None), si.c.last_beat_at >= to_utc(now, "now") - within)
                .order_by(si.c.last_beat_at.desc(), si.c.id.desc())
                .limit(1)
            ).one_or_none()
        if row is None:
            return None
        return InstanceRecord(
            row.id, row.host, row.pid, row.version, row.started_at, row.last_beat_at, None
        )


def _request(row: Row[Any]) -> RequestRecord:
    request = ManualRequest(
        ward=row.ward,
        programme=row.programme,
        priority=Priority(row.priority),
        requested_by=row.requested_by,
        receiver=row.receiver,
        start=row.requested_start,
    )
    return RequestRecord(
        row.id, request, row.requested_at, RequestState(row.state), row.airing_id, row.message
    )
