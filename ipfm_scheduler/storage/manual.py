"""Manual requests (`ipfm-scheduler air`): queued by the CLI, taken and finished by the
service. Functions over one open transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Row

from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.records import ManualRequest, RequestRecord, RequestState, StaleRequest
from ipfm_scheduler.errors import StorageError, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.types import to_utc


def queue_request(conn: Connection, request: ManualRequest, now: datetime) -> int:
    """Queue a manual airing for the service; returns the request's id (its ``id`` and
    ``requested_at`` are given here)."""
    start = request.start
    values = {
        "ward": request.ward,
        "receiver": request.receiver,
        "programme": request.programme,
        "priority": Priority(request.priority).value,
        "requested_start": None if start is None else to_utc(start, "the requested start"),
        "requested_at": to_utc(now, "now"),
        "requested_by": request.requested_by,
        "state": RequestState.QUEUED.value,
    }
    mr = t.manual_requests
    return int(conn.execute(mr.insert().values(values).returning(mr.c.id)).scalar_one())


def take_requests(conn: Connection, now: datetime) -> list[ManualRequest]:
    """The queued requests, oldest first, now marked ``taken`` (each is handed out once)."""
    mr = t.manual_requests
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
    conn: Connection,
    request_id: int,
    state: RequestState | str,
    *,
    now: datetime,
    airing_id: int | None,
    message: str | None,
) -> None:
    """Close a request: ``done`` (with the airing it became) or ``refused`` (with why); or
    hand a taken one back: ``queued`` (with why: the service could not store its airing and
    takes it again)."""
    state = RequestState(state)
    if state not in (RequestState.DONE, RequestState.REFUSED, RequestState.QUEUED):
        raise ValueInvalid(  # i18n: internal (the service's own call, never a person's)
            f"a request is finished as done or refused, or queued again, not {state}"
        )
    values: dict[str, Any] = {"state": state.value, "airing_id": airing_id, "message": message}
    if state is RequestState.QUEUED:
        values["taken_at"] = None
    else:
        values["finished_at"] = to_utc(now, "now")
    mr = t.manual_requests
    done = conn.execute(mr.update().where(mr.c.id == request_id).values(values)).rowcount
    if not done:
        raise StorageError(_("no manual request {id} in the database").format(id=request_id))


def stale_requests(conn: Connection, taken_before: datetime) -> list[StaleRequest]:
    """Requests still ``taken`` that were taken before ``taken_before`` (the service that took
    them stopped, or lost its database, before finishing them), oldest first, each with when it
    was taken and the airing stored for it, if one was (noted on the request when it was
    stored)."""
    mr = t.manual_requests
    rows = conn.execute(
        select(mr)
        .where(
            mr.c.state == RequestState.TAKEN.value,
            mr.c.taken_at < to_utc(taken_before, "taken_before"),
        )
        .order_by(mr.c.requested_at, mr.c.id)
    ).all()
    return [StaleRequest(_request(r), r.taken_at, r.airing_id) for r in rows]


def request(conn: Connection, request_id: int) -> RequestRecord:
    row = conn.execute(
        select(t.manual_requests).where(t.manual_requests.c.id == request_id)
    ).one_or_none()
    if row is None:
        raise StorageError(_("no manual request {id} in the database").format(id=request_id))
    return _record(row)


def requests_since(conn: Connection, since: datetime, *, limit: int) -> list[RequestRecord]:
    """The requests queued at or after ``since``, newest first, at most ``limit``."""
    mr = t.manual_requests
    rows = conn.execute(
        select(mr)
        .where(mr.c.requested_at >= to_utc(since, "since"))
        .order_by(mr.c.requested_at.desc(), mr.c.id.desc())
        .limit(limit)
    ).all()
    return [_record(r) for r in rows]


def _request(row: Row[Any]) -> ManualRequest:
    return ManualRequest(
        ward=row.ward,
        programme=row.programme,
        priority=Priority(row.priority),
        requested_by=row.requested_by,
        receiver=row.receiver,
        start=row.requested_start,
        id=row.id,
        requested_at=row.requested_at,
    )


def _record(row: Row[Any]) -> RequestRecord:
    return RequestRecord(
        row.id, _request(row), row.requested_at, RequestState(row.state), row.airing_id, row.message
    )
