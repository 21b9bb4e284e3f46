"""Services on standby (issue 17): which one leads, and how each part of the service is doing.

With PostgreSQL, two or more services may run on one airing log. Each looks at the lease in the
database every ``LeaseTimes.every_s`` (:class:`Leadership`, from the daemon's main loop, never
from the timer's worker, so a long send cannot delay a renewal): the leader renews it and runs
the timer's jobs; a standby keeps its broker and database connections open, serves audio, and
takes the lease once it has run out. ``core/lease.py`` decides; ``storage/lease.py`` holds it.
A leader whose lease another took, or that could not renew it in time, steps down: a WARNING,
its jobs stop (:meth:`Leadership.may_publish` is checked before every publish), /healthz and
the systemd status say ``standby``.

:func:`health` is what /healthz and the watchdog look at, for a leader, a standby or the sole
service of an SQLite airing log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from ipfm_scheduler.core.lease import Lease, LeaseTimes, LeaseTrust, Role, role_of
from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.jobs import DB_STALE_S, Jobs
from ipfm_scheduler.service.ports import LIVE_WITHIN, LiveInstance
from ipfm_scheduler.service.timer import Timer
from ipfm_scheduler.storage.lease import Claim, Me

log = logging.getLogger("ipfm_scheduler.service")

BEAT_S = 5.0  # a standby's heartbeat (the leader's timer beats too), and the peers looked up


class LeaseLog(Protocol):
    """What the leadership needs of the airing log (``storage.repository.Repository``)."""

    fence: int | None
    fence_idle_ms: int

    def claim_lease(self, me: Me, length: timedelta) -> Claim: ...
    def release_lease(self, instance_id: int) -> bool: ...
    def heartbeat(self, instance_id: int, now: datetime) -> None: ...
    def live_instances(self, now: datetime, within: timedelta) -> list[LiveInstance]: ...


class Turn(Enum):
    NONE = "none"
    LEAD = "lead"  # this service now leads: start the jobs
    STEP_DOWN = "step down"  # it no longer leads: stop them


class Leadership:
    """This service's standing: leader (with a :class:`LeaseTrust` on the monotonic clock) or
    standby. :meth:`look` runs on the daemon's thread; :meth:`may_publish` on any."""

    def __init__(
        self,
        airing_log: LeaseLog,
        me: Me,
        times: LeaseTimes,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = airing_log
        self.me = me
        self.times = times
        self._mono = monotonic
        self.trust: LeaseTrust | None = None
        self.lease: Lease | None = None  # as last seen
        self.peers: list[LiveInstance] = []  # running services, as last seen
        self.leading = False  # the jobs run
        self.db_ok_at = monotonic()
        self.error: str | None = None
        self._beat_at = float("-inf")
        airing_log.fence = 0  # nothing stored before this service leads
        # a store or a renewal of a leader paused in its transaction must not hold a takeover
        # up: PostgreSQL ends it once idle for a quarter of the takeover time
        airing_log.fence_idle_ms = max(500, int(times.takeover_s * 250))

    @property
    def role(self) -> Role:
        return role_of(self.trust, self._mono())

    def may_publish(self) -> bool:
        trust = self.trust
        return trust is not None and trust.holds(self._mono())

    def look(self) -> Turn:
        """Renew or take the lease, or wait for it; what the daemon must do now."""
        asked = self._mono()
        try:
            claim = self.log.claim_lease(self.me, self.times.length)
        except IpfmError as exc:
            self.error = str(exc)
            if self.leading and not self.may_publish():
                log.warning(
                    _(
                        "this service could not renew its lead in time (the database: %s): "
                        "stepping down to standby, it publishes nothing more"
                    ),
                    exc,
                )
                return self._step_down()
            return Turn.NONE
        self.error, self.db_ok_at, self.lease = None, self._mono(), claim.lease
        if not claim.mine:
            if self.leading:
                log.warning(
                    _(
                        "this service lost the lead to %s (pid %d, epoch %d): stepping down to "
                        "standby, it publishes nothing more"
                    ),
                    claim.lease.host,
                    claim.lease.pid,
                    claim.lease.epoch,
                )
                return self._step_down()
            self.trust = None
            return Turn.NONE
        self.trust = LeaseTrust.after_renewal(claim.lease.epoch, asked, self.times)
        self.log.fence = claim.lease.epoch
        if claim.changed:
            self._tell_takeover(claim)
        if self.leading:
            return Turn.NONE
        self.leading = True
        return Turn.LEAD

    def _tell_takeover(self, claim: Claim) -> None:
        new, old = claim.lease, claim.previous
        if old is None:
            log.warning(_("this service leads (epoch %d): it is the first leader"), new.epoch)
            return
        if claim.reason == "released":
            text = _(
                "this service takes the lead (epoch %d) from %s (pid %d, epoch %d): it gave it up"
            )
        else:
            text = _(
                "this service takes the lead (epoch %d) from %s (pid %d, epoch %d): its lease "
                "ran out"
            )
        log.warning(text, new.epoch, old.host, old.pid, old.epoch)

    def _step_down(self) -> Turn:
        self.trust = None
        self.log.fence = 0
        self.leading = False
        return Turn.STEP_DOWN

    def release(self) -> None:
        """A clean stop: give the lease up, so a standby takes over at its next look."""
        self.trust = None
        self.log.fence = 0
        if self.leading and self.log.release_lease(self.me[0]):
            log.info(_("lead given up: a standby takes over"))
        self.leading = False

    def beat(self, now: datetime) -> None:
        """Every ``BEAT_S``: this service's heartbeat, and who else runs."""
        if self._mono() - self._beat_at < BEAT_S:
            return
        self._beat_at = self._mono()
        try:
            self.log.heartbeat(self.me[0], now)
            self.peers = self.log.live_instances(now, LIVE_WITHIN)
        except IpfmError as exc:
            self.error = str(exc)

    def describe(self) -> str:
        """For /healthz: the role, the leader and the standbys (English, for tools too)."""
        lease, role = self.lease, self.role
        head = role.value
        if lease is not None:
            who = "this instance" if lease.instance_id == self.me[0] else "leader"
            head += (
                f": {who} {lease.host} pid {lease.pid}, epoch {lease.epoch} since "
                f"{lease.since:%Y-%m-%dT%H:%M:%SZ}"
            )
        lead = None if lease is None else lease.instance_id
        others = [
            f"{p.host} pid {p.pid}"
            + (f" since {p.started_at:%Y-%m-%dT%H:%M:%SZ}" if p.started_at else "")
            for p in self.peers
            if p.id != lead
        ]
        return head + ("; standby: " + ", ".join(others) if others else "; no standby")


def status_text(plan: Plan, lead: Leadership | None) -> str:
    """The systemd status: what this service airs, or that it stands by."""
    wards = len(plan.schedule.wards)
    if lead is not None and not lead.leading:
        return _("standby for {wards} ward(s): another service leads").format(wards=wards)
    receivers = sum(len(w.enabled_receivers) for w in plan.schedule.wards.values())
    status = _("airing for {wards} ward(s), {receivers} receiver(s)")
    return status.format(wards=wards, receivers=receivers)


def health(
    service: Jobs | None,
    timer: Timer | None,
    outbox: BrokerState,
    lead: Leadership | None = None,
    *,
    watchdog: bool = False,
) -> dict[str, tuple[bool, str]]:
    """Each part /healthz and the watchdog look at: (ok, reason).

    /healthz is 200 only while the broker is connected. The watchdog asks less of the broker:
    that paho's network loop is alive (reconnecting counts), because restarting the service
    does not bring a stopped broker back; commands wait in the database meanwhile. A standby
    (no jobs running) is healthy when it can reach the broker and the database.
    """
    connected = outbox.is_connected()
    broker_ok = outbox.is_alive() if watchdog else connected
    if connected:
        broker_why = "connected"
    elif outbox.is_alive():
        why = outbox.last_error
        broker_why = "not connected: reconnecting" + (f" ({why})" if why else "")
    else:
        broker_why = "not connected: the MQTT network loop has stopped"
    parts = {"broker": (broker_ok, broker_why)}
    if service is not None and timer is not None:
        parts["scheduler"] = (timer.healthy(), "" if timer.healthy() else "no job ran recently")
        parts["database"] = _database_health(service, timer, watchdog=watchdog)
    else:
        parts["scheduler"] = (True, "standby: no job runs")
        parts["database"] = _standby_database(lead, watchdog=watchdog)
    if lead is not None:
        parts["lead"] = (True, lead.describe())
    return {
        name: parts[name] for name in ("scheduler", "broker", "database", "lead") if name in parts
    }


class BrokerState(Protocol):
    def is_connected(self) -> bool: ...
    def is_alive(self) -> bool: ...
    @property
    def last_error(self) -> str | None: ...


def _standby_database(lead: Leadership | None, *, watchdog: bool) -> tuple[bool, str]:
    """Like the leader's: red at once for /healthz, for the watchdog after ``DB_STALE_S``."""
    if lead is None:
        return True, ""
    if time.monotonic() - lead.db_ok_at >= DB_STALE_S:
        return False, f"the lease not read in {DB_STALE_S:.0f} s ({lead.error or 'no answer'})"
    if lead.error is not None and not watchdog:
        return False, f"the lease could not be read: {lead.error}"
    return True, ""


def _database_health(service: Jobs, timer: Timer, *, watchdog: bool) -> tuple[bool, str]:
    """/healthz turns red at the first heartbeat the database refuses (every 5 s), with its
    error; the watchdog only once no heartbeat went through for ``DB_STALE_S`` (a short blip
    must not get the service restarted, and a restart does not bring a database back)."""
    error = timer.guard.last_error.get("heartbeat")  # why the last heartbeat failed, if it did
    if not service.database_ok():
        return False, f"no heartbeat written in {DB_STALE_S:.0f} s ({error or 'no answer'})"
    if error is not None and not watchdog:
        return False, f"the last heartbeat could not be written: {error}"
    return True, ""


__all__ = ["BEAT_S", "Leadership", "LeaseLog", "Turn", "health", "status_text"]
