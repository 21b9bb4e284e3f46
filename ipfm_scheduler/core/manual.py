"""Manual and emergency airings queued by ``ipfm-scheduler air``: accept or refuse, and when.
Pure decisions over the schedule in force, the request and ``now`` (``service/manual.py`` takes
the requests from the airing log and records what became of each).

A normal or priority airing must start inside one of the ward's windows, with the programme
fitting before the window closes (it expires at the window's end), on a day that is not skipped
and inside the campaign. An emergency airing ignores all that: it starts when asked (now by
default), expires ``EMERGENCY_MARGIN`` after it would have ended, and pre-empts whatever the
receivers play (docs/protocol.md). A request nobody picked up for ``STALE_AFTER`` (no service
was running) is refused rather than aired late.

A request the service took always ends done or refused, never stuck in ``taken``: when its
airing can't be ordered (no audio, or any other error) it is refused with the reason. When the
database fails while storing it (a lock, a dropped connection: often brief) it goes back to the
queue and is tried again on the next tick, until ``RETRY_FOR`` after it was queued; after that it
is refused with the database's error rather than retried (and logged) for ever or aired late.
A request left ``taken`` for ``TAKEN_LEASE`` (its service was killed, or lost the database
before noting the outcome) is finished by the running service: done if its airing was stored,
refused if not (see :func:`settle_stale`).
A technician sees the outcome in ``air`` (within its ``--wait``) or in ``status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ipfm_scheduler.core.expand import PlannedAiring, at_local
from ipfm_scheduler.core.makeup import default_volume
from ipfm_scheduler.core.model import Origin, Priority, Programme, Schedule, Ward
from ipfm_scheduler.core.records import ManualRequest, RequestState, StaleRequest
from ipfm_scheduler.errors import NotAirable, StorageError

EMERGENCY_MARGIN = timedelta(minutes=5)
STALE_AFTER = timedelta(minutes=10)
PAST_TOLERANCE = timedelta(minutes=1)
RETRY_FOR = timedelta(minutes=1)  # a database failure while storing: tried again this long
TAKEN_LEASE = timedelta(minutes=2)  # a request still `taken` after this was never finished
STALE_CHECK = timedelta(minutes=1)  # how often the service looks for such requests


@dataclass(frozen=True, slots=True)
class Decision:
    """Either an airing for ``receivers`` or a ``refusal`` in plain words."""

    planned: PlannedAiring | None = None
    receivers: tuple[str, ...] = ()
    refusal: str = ""


def decide(request: ManualRequest, schedule: Schedule, now: datetime) -> Decision:
    """Accept ``request`` (an airing for its receivers) or refuse it, saying why."""
    what = _what(request)
    found = _resolve(request, schedule)
    if isinstance(found, str):
        return Decision(refusal=f"{what}: {found}")
    ward, programme, receivers = found
    start = (request.start or now).replace(microsecond=0)
    refusal = _timing(request, schedule, start, now)
    if refusal:
        return Decision(refusal=f"{what}: {refusal}")
    if request.priority is Priority.EMERGENCY:
        expires = start + programme.duration + EMERGENCY_MARGIN
        volume = _volume(ward, programme)
        planned = PlannedAiring(
            start, ward.id, programme.id, expires, volume, Origin.EMERGENCY, zone=schedule.timezone
        )
        return Decision(planned, receivers)
    return _in_window(schedule, ward, programme, start, receivers=receivers, what=what)


def settle_stale(stale: StaleRequest, schedule: Schedule) -> tuple[RequestState, str]:
    """How to finish a request its service took and never finished: done when its airing was
    stored (it airs as planned), refused when none was (not aired: queue it again)."""
    what = _what(stale.request)
    took = f"took it at {_local(schedule, stale.taken_at)}" if stale.taken_at else "took it"
    if stale.airing_id is not None:
        return RequestState.DONE, (
            f"{what}: airing #{stale.airing_id} was stored for it; the service that {took} "
            "was interrupted before noting it done"
        )
    return RequestState.REFUSED, (
        f"{what}: the service that {took} was interrupted before storing its airing; not aired "
        "(queue it again if it is still needed)"
    )


def retry(request: ManualRequest, now: datetime) -> bool:
    """Whether ``request``, whose airing the database failed to store, goes back to the queue
    (it was queued less than ``RETRY_FOR`` ago) rather than being refused."""
    return request.requested_at is not None and now - request.requested_at < RETRY_FOR


def failed(request: ManualRequest, exc: Exception) -> str:
    """The refusal of ``request`` whose airing could not be ordered or stored."""
    if isinstance(exc, NotAirable):
        return f"{_what(request)}: {exc}"
    step = "stored" if isinstance(exc, StorageError) else "ordered"
    return f"{_what(request)}: its airing could not be {step}: {exc}; not aired"


def _what(request: ManualRequest) -> str:
    return f"request #{request.id} ({request.ward}, {request.programme})"


def _resolve(
    request: ManualRequest, schedule: Schedule
) -> tuple[Ward, Programme, tuple[str, ...]] | str:
    ward = schedule.wards.get(request.ward)
    if ward is None:
        return f"ward {request.ward} is not in the configuration"
    programme = schedule.programmes.get(request.programme)
    if programme is None:
        known = ", ".join(sorted(schedule.programmes)) or "none"
        return f"programme {request.programme} is unknown (known: {known})"
    receivers, refusal = _receivers(ward, request.receiver)
    return refusal or (ward, programme, receivers)


def _timing(request: ManualRequest, schedule: Schedule, start: datetime, now: datetime) -> str:
    if request.start is None and request.requested_at and now - request.requested_at > STALE_AFTER:
        return (
            f"queued at {_local(schedule, request.requested_at)} and not picked up within "
            f"{STALE_AFTER.seconds // 60} minutes (no service was running); not aired"
        )
    if start < now - PAST_TOLERANCE:
        return f"the requested start {_local(schedule, start)} has passed"
    return ""


DEMO_NOTE = "demo (run --demo)"  # the note of the airings ``run --demo`` plans


def demo(schedule: Schedule, ward: Ward, programme: Programme, start: datetime) -> PlannedAiring:
    """The airing ``run --demo`` plans for ``ward`` at ``start``, windows ignored."""
    expires = start + programme.duration + EMERGENCY_MARGIN
    return PlannedAiring(
        start.replace(microsecond=0),
        ward.id,
        programme.id,
        expires,
        _volume(ward, programme),
        Origin.MANUAL,
        zone=schedule.timezone,
    )


def _receivers(ward: Ward, wanted: str | None) -> tuple[tuple[str, ...], str]:
    enabled = tuple(r.id for r in ward.enabled_receivers)
    if wanted is None:
        return enabled, "" if enabled else f"ward {ward.id} has no enabled receiver"
    receiver = ward.receiver(wanted)
    if receiver is None:
        known = ", ".join(r.id for r in ward.receivers) or "none"
        return (), f"ward {ward.id} has no receiver {wanted} (it has: {known})"
    if not receiver.enabled:
        return (), f"receiver {ward.id}/{wanted} is disabled in the ward file"
    return (wanted,), ""


def _in_window(
    schedule: Schedule,
    ward: Ward,
    programme: Programme,
    start: datetime,
    *,
    receivers: tuple[str, ...],
    what: str,
) -> Decision:
    local = start.astimezone(schedule.timezone)
    day = local.date()
    if day in ward.skip_dates:
        return Decision(refusal=f"{what}: {day} is a skip date of {ward.id}: no broadcasting")
    if not programme.runs_on(day):
        return Decision(refusal=f"{what}: the {programme.id} campaign does not run on {day}")
    fitting = [
        w for w in ward.windows if w.holds(day.weekday(), local.time(), programme.duration_s)
    ]
    if not fitting:
        windows = "; ".join(w.describe() for w in ward.windows) or "none"
        return Decision(
            refusal=f"{what}: {local:%a %H:%M} is not inside a window of {ward.id} long enough "
            f"for {programme.id} ({programme.duration_s:.0f} s); windows: {windows}; "
            "use --priority emergency to air outside the windows"
        )
    closes = max(at_local(day, w.end, schedule.timezone) for w in fitting)
    planned = PlannedAiring(
        start,
        ward.id,
        programme.id,
        closes,
        _volume(ward, programme),
        Origin.MANUAL,
        zone=schedule.timezone,
    )
    return Decision(planned, receivers)


def _volume(ward: Ward, programme: Programme) -> int:
    return default_volume(ward, programme.id)


def _local(schedule: Schedule, moment: datetime) -> str:
    return f"{moment.astimezone(schedule.timezone):%Y-%m-%d %H:%M}"
