"""The airing log in the database: the repository the service records everything through.

One class, one transaction per method; each method is thin, over the functions of one concern
(``configs``, ``airings``, ``commands``, ``answers``, ``closing``, ``manual``, ``instances``)::

    engine = open_engine(url)
    require_current(engine)
    repo = Repository(engine)

It implements ``service.ports.AiringLog`` (structurally: the storage does not import the
service) with the values of ``core/records.py``; ``storage.memory.MemoryLog`` is the same
interface in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ipfm_scheduler import __version__
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.lease import Lease
from ipfm_scheduler.core.records import (
    AiringRecord,
    ConfigInForce,
    LiveInstance,
    ManualRequest,
    ReceiverStatusRecord,
    RequestRecord,
    RequestState,
    StaleRequest,
    WeekCloseRow,
)
from ipfm_scheduler.core.traffic import (
    AckOutcome,
    AiringToStore,
    CommandRef,
    IncomingAck,
    IncomingStatus,
    OutgoingCommand,
    SendResult,
    StoredAiring,
)
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import NotLeading, StorageError, ValueInvalid
from ipfm_scheduler.storage import (
    airings,
    answers,
    closing,
    commands,
    configs,
    instances,
    lease,
    manual,
    repeats,
)
from ipfm_scheduler.storage.checkpoint import Checkpointer
from ipfm_scheduler.storage.db import describe, sqlite_file
from ipfm_scheduler.storage.plans import RecordedPlan
from ipfm_scheduler.storage.snapshot import ConfigSnapshot, snapshot_from_config


class Repository:
    """Configuration snapshots, airings, commands, acks, receivers' status, week closures,
    manual requests and service heartbeats. Writes come in batches (one transaction for a
    whole airing slot, or every ack drained at once)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._zones: dict[int, ZoneInfo] = {}  # snapshot id -> station time zone
        #: with a lease (PostgreSQL, services on standby): the epoch every store is checked
        #: against in its own transaction (0: not leading, every store refused); None: no lease
        self.fence: int | None = None
        self.fence_idle_ms = lease.IDLE_MS  # a fenced store or a claim left idle this long ends
        self._checkpoints: Checkpointer | None = None

    @property
    def pubacks_with_acks(self) -> bool:
        """On PostgreSQL (``service.ports.AiringLog``); on SQLite, measured, nothing to gain."""
        return self._engine.dialect.name == "postgresql"

    @property
    def engine(self) -> Engine:
        return self._engine

    def checkpoint_aside(self) -> None:
        """SQLite file: its WAL checkpoints on a thread of their own (``storage/checkpoint.py``),
        stopped by :meth:`close`."""
        if self._checkpoints is None and sqlite_file(self._engine.url) is not None:
            self._checkpoints = Checkpointer(self._engine).start()

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that commits at the end, or rolls back on any error."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(describe(exc, self._engine.url)) from exc

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection to read with (the auditors' queries: storage/report.py, audit.py); a
        database error comes out as :class:`StorageError`."""
        return self._read()

    @contextmanager
    def _fenced(self) -> Iterator[Connection]:
        """A write transaction that first checks this service still leads (storage/lease.py)."""
        with self._write() as conn:
            if self.fence is not None:
                lease.check_epoch(conn, self.fence, self.fence_idle_ms)
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(describe(exc, self._engine.url)) from exc

    # ---------------------------------------------------------------- configuration

    def record_config(self, loaded: LoadedConfig, *, now: datetime) -> int:
        """Keep the configuration ``loaded`` (see :meth:`record_snapshot`); returns its id."""
        return self.record_snapshot(snapshot_from_config(loaded), now=now)

    def record_snapshot(self, snapshot: ConfigSnapshot, *, now: datetime) -> int:
        with self._write() as conn:
            return configs.record_snapshot(conn, snapshot, now)

    def plan_in_force(self, moment: datetime) -> tuple[int, RecordedPlan] | None:
        with self._read() as conn:
            return configs.plan_in_force(conn, moment)

    def config_in_force(self, moment: datetime) -> ConfigInForce | None:
        with self._read() as conn:
            return configs.config_in_force(conn, moment)

    def snapshot_timezone(self, snapshot_id: int) -> ZoneInfo:
        with self._read() as conn:
            return self._zone(conn, snapshot_id)

    def _zone(self, conn: Connection, snapshot_id: int) -> ZoneInfo:
        zone = self._zones.get(snapshot_id)
        if zone is None:
            zone = self._zones[snapshot_id] = configs.snapshot_zone(conn, snapshot_id)
        return zone

    # ---------------------------------------------------------------- airings and commands

    def store_airings(
        self, items: Sequence[AiringToStore], *, snapshot_id: int | None, now: datetime
    ) -> list[StoredAiring]:
        if not items:
            return []
        if snapshot_id is None:
            raise ValueInvalid(
                "airings are recorded with the configuration snapshot in force"
            )  # i18n: internal (the service's own call)
        with self._fenced() as conn:
            zone = self._zone(conn, snapshot_id)
            return airings.store_airings(conn, items, snapshot_id=snapshot_id, zone=zone, now=now)

    def commands_to_send(
        self,
        now: datetime,
        *,
        resend_after: timedelta,
        due_by: datetime | None = None,
        limit: int = 100,
    ) -> list[OutgoingCommand]:
        with self._read() as conn:
            return commands.commands_to_send(
                conn, now, resend_after=resend_after, due_by=due_by, limit=limit
            )

    def record_sends(self, results: Sequence[SendResult], *, now: datetime) -> None:
        if results:
            with self._fenced() as conn:
                commands.record_sends(conn, results, now)

    def expire_overdue(self, now: datetime, *, grace: timedelta) -> list[CommandRef]:
        with self._fenced() as conn:
            return commands.expire_overdue(conn, now, grace=grace)

    def open_commands(self) -> dict[CommandState, int]:
        with self._read() as conn:
            return commands.open_commands(conn)

    def airing(self, airing_id: int) -> AiringRecord:
        with self._read() as conn:
            return airings.airing(conn, airing_id)

    def airings_between(
        self, start: datetime, end: datetime, wards: Collection[str] | None = None
    ) -> list[AiringRecord]:
        with self._read() as conn:
            return airings.airings_between(conn, start, end, wards)

    def week_airings(
        self, ward: str, programme: str, start: datetime, end: datetime
    ) -> list[AiringRecord]:
        with self._read() as conn:
            return airings.week_airings(conn, ward, programme, start, end)

    def next_airings(self, now: datetime, *, limit: int = 20) -> list[AiringRecord]:
        with self._read() as conn:
            return airings.next_airings(conn, now, limit=limit)

    def completed_counts(
        self, ward: str, programme: str, start: datetime, end: datetime
    ) -> dict[str, int]:
        with self._read() as conn:
            return airings.completed_counts(conn, ward, programme, start, end)

    def earliest_airing(self) -> datetime | None:
        with self._read() as conn:
            return airings.earliest_airing(conn)

    # ---------------------------------------------------------------- what receivers send

    def record_acks(
        self, acks: Sequence[IncomingAck], *, now: datetime, pubacks: Sequence[str] = ()
    ) -> list[AckOutcome]:
        if not acks and not pubacks:
            return []
        with self._write() as conn:  # answers are facts, whoever leads: not fenced
            if pubacks and self.fence is not None:
                try:
                    lease.check_epoch(conn, self.fence, self.fence_idle_ms)
                except NotLeading:
                    pubacks = ()  # refused, as record_sends refuses them: the leader resends
            return answers.record_acks(conn, acks, now, pubacks)

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
        row = repeats.quarantine_row(
            topic, ward, receiver, raw, reason, now=now, size=size, sha256=sha256
        )
        with self._write() as conn:
            answers.quarantine(conn, row, now)

    def quarantined_count(self, since: datetime) -> int:
        with self._read() as conn:
            return answers.quarantined_count(conn, since)

    def record_statuses(self, statuses: Sequence[IncomingStatus], *, now: datetime) -> list[bool]:
        if not statuses:
            return []
        with self._write() as conn:
            return answers.record_statuses(conn, statuses, now)

    def receivers_status(self) -> list[ReceiverStatusRecord]:
        with self._read() as conn:
            return answers.receivers_status(conn)

    def offline_receivers(
        self, until: datetime | None = None, wards: Collection[str] | None = None
    ) -> dict[tuple[str, str], datetime]:
        with self._read() as conn:
            return answers.offline_receivers(conn, until, wards)

    # ---------------------------------------------------------------- the week

    def record_week_close(
        self,
        week: IsoWeek,
        rows: Sequence[WeekCloseRow],
        *,
        now: datetime,
        snapshot_id: int | None = None,
    ) -> None:
        with self._fenced() as conn:
            closing.record_week_close(conn, week, rows, now=now, snapshot_id=snapshot_id)

    def last_closed_week(self) -> IsoWeek | None:
        with self._read() as conn:
            return closing.last_closed_week(conn)

    # ---------------------------------------------------------------- manual requests

    def queue_request(self, request: ManualRequest, *, now: datetime) -> int:
        with self._write() as conn:
            return manual.queue_request(conn, request, now)

    def take_requests(self, now: datetime) -> list[ManualRequest]:
        with self._fenced() as conn:
            return manual.take_requests(conn, now)

    def stale_requests(self, taken_before: datetime) -> list[StaleRequest]:
        with self._read() as conn:
            return manual.stale_requests(conn, taken_before)

    def finish_request(
        self,
        request_id: int,
        state: RequestState | str,
        *,
        now: datetime,
        airing_id: int | None = None,
        message: str | None = None,
    ) -> None:
        with self._fenced() as conn:
            manual.finish_request(
                conn, request_id, state, now=now, airing_id=airing_id, message=message
            )

    def request(self, request_id: int) -> RequestRecord:
        with self._read() as conn:
            return manual.request(conn, request_id)

    def requests_since(self, since: datetime, *, limit: int) -> list[RequestRecord]:
        with self._read() as conn:
            return manual.requests_since(conn, since, limit=limit)

    # ---------------------------------------------------------------- the service's runs

    def start_instance(
        self, *, host: str, pid: int, now: datetime, version: str = __version__
    ) -> int:
        with self._write() as conn:
            return instances.start_instance(conn, host=host, pid=pid, version=version, now=now)

    def heartbeat(self, instance_id: int, now: datetime) -> None:
        with self._write() as conn:
            instances.heartbeat(conn, instance_id, now)

    def stop_instance(self, instance_id: int, now: datetime) -> None:
        with self._write() as conn:
            instances.stop_instance(conn, instance_id, now)

    def live_instance(self, now: datetime, within: timedelta) -> LiveInstance | None:
        with self._read() as conn:
            return instances.live_instance(conn, now, within)

    def live_instances(self, now: datetime, within: timedelta) -> list[LiveInstance]:
        with self._read() as conn:
            return instances.live_instances(conn, now, within)

    # ---------------------------------------------------------------- the leader's lease

    def claim_lease(self, me: lease.Me, length: timedelta) -> lease.Claim:
        """Renew or take the lease (storage/lease.py); one transaction."""
        with self._write() as conn:
            return lease.claim(conn, me, length, self.fence_idle_ms)

    def release_lease(self, instance_id: int) -> bool:
        with self._write() as conn:
            return lease.release(conn, instance_id)

    def leader_changes(self, limit: int = 10) -> list[dict[str, object]]:
        """The latest changes of leader, newest first (``ha_leader_changes`` rows)."""
        with self._read() as conn:
            return [dict(r._mapping) for r in lease.leader_changes(conn, limit)]

    def current_lease(self) -> tuple[Lease | None, datetime]:
        """The lease, and the database's time now (to tell whether it ran out)."""
        with self._read() as conn:
            return lease.read_lease(conn), lease.db_now(conn)


__all__ = ["Repository"]
