"""What the dispatcher needs from the world, as small interfaces (APScheduler 4's ``abc.py``).

* :class:`AiringLog`: the database (the record of what happened). The storage package's
  ``Repository`` implements it, and ``storage.memory.MemoryLog`` in memory; the values they
  exchange are defined once, in ``core/traffic.py`` and ``core/records.py``.
* :class:`Outbox`: the MQTT connection (publish paced from our own thread, PUBACKs and incoming
  messages drained from thread-safe queues): ``transport/outbox.py`` over ``transport/mqtt.py``.
* ``Clock``: the only source of the time (``ipfm_scheduler/clock.py``, shared with the simulator).
* :class:`MetricsSink`: what the service counts (``service/http/metrics.py``).

The wire format (topics, payloads, parsing acks) is the protocol package's, used directly.

Every method takes ``now`` where time matters; none reads the clock.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from ipfm_scheduler.clock import Clock
from ipfm_scheduler.core.records import (
    LIVE_WITHIN,
    AiringRecord,
    CommandRecord,
    ConfigInForce,
    LiveInstance,
    ManualRequest,
    RequestState,
    StaleRequest,
    WeekCloseRow,
)
from ipfm_scheduler.core.traffic import (
    AckLike,
    AckOutcome,
    AiringToStore,
    CommandRef,
    IncomingAck,
    IncomingMessage,
    IncomingStatus,
    NewCommand,
    OutgoingCommand,
    Publish,
    PublishStatus,
    SendOutcome,
    SendResult,
    StoredAiring,
)
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ServiceAlreadyRunning
from ipfm_scheduler.i18n import _

__all__ = [
    "LIVE_WITHIN",
    "AckLike",
    "AckOutcome",
    "AiringLog",
    "AiringRecord",
    "AiringToStore",
    "Clock",  # the values are re-exported for the service's modules (defined in core/records)
    "CommandRecord",
    "CommandRef",
    "ConfigInForce",
    "IncomingAck",
    "IncomingMessage",
    "IncomingStatus",
    "LiveInstance",
    "ManualRequest",
    "MetricsSink",
    "NewCommand",
    "NoMetrics",
    "Outbox",
    "OutgoingCommand",
    "Publish",
    "PublishStatus",
    "RequestState",
    "SendOutcome",
    "SendResult",
    "StaleRequest",
    "StoredAiring",
    "WeekCloseRow",
]


class AiringLog(Protocol):
    """The airing log, as the dispatcher uses it. Each method is one transaction."""

    @property
    def pubacks_with_acks(self) -> bool:
        """Whether a PUBACK recorded with its command's ack (``record_acks(pubacks=...)``)
        saves work: on PostgreSQL, one new version of the command's row instead of two."""
        ...

    def store_airings(
        self, items: Sequence[AiringToStore], *, snapshot_id: int | None, now: datetime
    ) -> list[StoredAiring]: ...

    def commands_to_send(
        self, now: datetime, *, resend_after: timedelta, due_by: datetime, limit: int
    ) -> list[OutgoingCommand]:
        """Never-accepted commands, and sent-but-unanswered ones whose last send is older than
        ``resend_after``; not expired; whose airing starts at or before ``due_by``; oldest
        first. Also commands acknowledged ``received``/``playing`` whose window has closed
        without a final answer (no send for ``core.records.STALLED_FACTOR`` x ``resend_after``): the
        receiver repeats its latest ack, so a lost final ack is recovered."""
        ...

    def record_sends(self, results: Sequence[SendResult], *, now: datetime) -> None: ...

    def record_acks(
        self, acks: Sequence[IncomingAck], *, now: datetime, pubacks: Sequence[str] = ()
    ) -> list[AckOutcome]:
        """Acks, in order; and first the PUBACKs of ``pubacks`` (command ids), as
        :meth:`record_sends` would record them, in the same transaction."""
        ...

    def quarantine(
        self,
        topic: str,
        ward: str,
        receiver: str,
        raw: bytes,
        reason: str,
        *,
        now: datetime,
        size: int | None = None,
        sha256: str | None = None,
    ) -> None:
        """Keep a message that can't be filed, with the reason: its first 1 KiB, its size and
        its sha256 (``size`` and ``sha256`` of the whole when ``raw`` is only its start); the
        same message again is counted on its row."""
        ...

    def record_statuses(self, statuses: Sequence[IncomingStatus], *, now: datetime) -> list[bool]:
        """Record receivers' statuses in order; per status, True if the receiver's state (or
        firmware) changed."""
        ...

    def expire_overdue(self, now: datetime, *, grace: timedelta) -> list[CommandRef]: ...

    def airings_between(
        self, start: datetime, end: datetime, wards: Collection[str] | None = None
    ) -> list[AiringRecord]:
        """Stored airings starting in [start, end) (of ``wards``, or all), with their commands."""
        ...

    def offline_receivers(
        self, until: datetime | None = None, wards: Collection[str] | None = None
    ) -> dict[tuple[str, str], datetime]:
        """(ward, receiver) -> since when (it went offline), for receivers (of ``wards``, or
        all) whose last status (before ``until``, or now) says offline."""
        ...

    def last_closed_week(self) -> IsoWeek | None: ...

    def config_in_force(self, moment: datetime) -> ConfigInForce | None:
        """The configuration recorded as in force just before ``moment`` (None: none was)."""
        ...

    def earliest_airing(self) -> datetime | None: ...

    def record_week_close(
        self,
        week: IsoWeek,
        rows: Sequence[WeekCloseRow],
        *,
        now: datetime,
        snapshot_id: int | None = None,
    ) -> None:
        """Keep the verdicts of a closed week, judged by the configuration ``snapshot_id``."""
        ...

    def take_requests(self, now: datetime) -> list[ManualRequest]:
        """Queued requests, marked taken."""
        ...

    def stale_requests(self, taken_before: datetime) -> list[StaleRequest]:
        """Requests left ``taken`` since before ``taken_before`` (their service was interrupted
        before finishing them), with the airing stored for each, if any."""
        ...

    def finish_request(
        self,
        request_id: int,
        *,
        state: RequestState,
        message: str,
        airing_id: int | None,
        now: datetime,
    ) -> None:
        """Finish a taken request as ``DONE`` or ``REFUSED`` (``message`` says what or why), or
        hand it back as ``QUEUED`` (its airing could not be stored; ``message`` says why)."""
        ...

    def start_instance(self, *, host: str, pid: int, now: datetime) -> int: ...

    def live_instance(self, now: datetime, within: timedelta) -> LiveInstance | None:
        """The newest service not stopped whose heartbeat is at most ``within`` old."""
        ...

    def heartbeat(self, instance_id: int, now: datetime) -> None: ...

    def stop_instance(self, instance_id: int, now: datetime) -> None: ...


# ---------------------------------------------------------------- the outbox (MQTT)


class Outbox(Protocol):
    """The MQTT connection, used only from the service's own thread."""

    def is_connected(self) -> bool: ...

    def is_alive(self) -> bool:
        """The network loop runs (connected or trying to reconnect)."""
        ...

    def publish(self, topic: str, payload: bytes, *, token: str, wait: bool = True) -> Publish:
        """QoS 1, never retained. With ``wait``, waits a moment at most (for room among the
        publishes awaiting PUBACK), else says BUSY at once. ``token`` (the command id) comes
        back with the PUBACK."""
        ...

    def take_pubacks(self, timeout: float = 0.0) -> list[str]:
        """Tokens of the publishes the broker acknowledged since the last call; waits up to
        ``timeout`` for the first one."""
        ...

    def take_incoming(self, limit: int) -> list[IncomingMessage]: ...


# ---------------------------------------------------------------- metrics


class MetricsSink(Protocol):
    """What the service counts (``service.metrics.Metrics`` renders it for /metrics)."""

    def command_sent(self, ward: str, *, resend: bool = False) -> None: ...
    def ack(self, ward: str, status: str) -> None: ...
    def receivers_online(self, ward: str, count: int) -> None: ...
    def commands_waiting(self, ward: str, count: int) -> None: ...
    def week(
        self, ward: str, programme: str, *, confirmed: int, enabled: int, minimum: int
    ) -> None: ...
    def dispatch_latency(self, seconds: float) -> None: ...
    def answers_waiting(self, memory: int, spilled_bytes: int) -> None:
        """Answers taken from the broker, not stored yet: in memory, and in the spill file."""
        ...

    def answers_unknown(self, count: int) -> None:
        """Answers from wards or receivers not in the configuration (no row, no series)."""
        ...

    def answers_quarantined(self, count: int) -> None: ...

    def role(self, role: str, epoch: int) -> None:
        """This instance's role (``core.lease.Role``) and the leader's epoch it last saw."""
        ...


class NoMetrics:
    """Counts nothing (tests, tools)."""

    def command_sent(self, ward: str, *, resend: bool = False) -> None:
        pass

    def ack(self, ward: str, status: str) -> None:
        pass

    def receivers_online(self, ward: str, count: int) -> None:
        pass

    def commands_waiting(self, ward: str, count: int) -> None:
        pass

    def week(
        self, ward: str, programme: str, *, confirmed: int, enabled: int, minimum: int
    ) -> None:
        pass

    def dispatch_latency(self, seconds: float) -> None:
        pass

    def answers_waiting(self, memory: int, spilled_bytes: int) -> None:
        pass

    def answers_unknown(self, count: int) -> None:
        pass

    def answers_quarantined(self, count: int) -> None:
        pass

    def role(self, role: str, epoch: int) -> None:
        pass


log = logging.getLogger("ipfm_scheduler.service")


def refuse_if_running(other: LiveInstance | None, now: datetime) -> None:
    """Refuse to start beside another service on the same airing log (both would send every
    command). One of this machine whose process is gone (killed, and restarted by systemd
    within its last heartbeat's lifetime) does not count."""
    if other is None:
        return
    if other.host == socket.gethostname() and not _process_alive(other.pid):
        log.info(
            _("the service that ran here as pid %d (last heartbeat %s) is gone: starting"),
            other.pid,
            other.last_beat_at.isoformat(timespec="seconds"),
        )
        return
    ago = max(0, int((now - other.last_beat_at).total_seconds()))
    raise ServiceAlreadyRunning(
        _(
            "another ipfm-scheduler service runs with this database, on {host} (pid {pid}, "
            "heartbeat {ago} s ago): two would send every command twice; stop it first "
            "(systemctl stop ipfm-scheduler), or start this one in {wait} s if it has just "
            "stopped without saying so"
        ).format(host=other.host, pid=other.pid, ago=ago, wait=int(LIVE_WITHIN.total_seconds()))
    )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
