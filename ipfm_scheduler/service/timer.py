"""When things run: APScheduler 3.x (the only module that imports it).

A ``BackgroundScheduler`` with its in-memory job store and ONE worker thread, so jobs never run
at the same time as each other (the dispatcher is not shared between threads). The jobs are
rebuilt from the configuration at start and on reload; our database, not APScheduler's job store,
is the record of what happened.

* ``tick`` (every second): incoming acks/statuses, queued requests, due airings, sends and
  resends, expiry.
* ``sweep`` (every 30 s): make-up airings and closing ended weeks.
* ``heartbeat`` (every 5 s): the database row that tells `air` and `status` a service runs.
* ``refresh`` (hourly): extends the agenda and re-creates the date jobs.
* one date job per upcoming dispatch instant (start - lead) within the horizon, so an airing goes
  out on the second rather than at the next tick.

Misfires and coalescing, chosen deliberately (APScheduler's default grace is one second): the
interval jobs have no grace limit (``misfire_grace_time=None``) and coalesce, so a late tick (the
worker was busy, the machine was suspended) still runs, once. Date jobs get the configured
``dispatch.misfire_grace_s`` (default 300 s): within it a late dispatch runs as planned; beyond it
APScheduler skips it, and the next tick dispatches the airing anyway, because whether a late
airing goes out or is recorded missed is decided by its window, in the dispatcher, not by the
timer. A job never kills the daemon: errors are logged (one line for an expected fault, a trace
for a bug), counted, and the loop goes on.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.i18n import N_, _
from ipfm_scheduler.service.ports import Clock

log = logging.getLogger(__name__)

STALL_S = 45.0  # no job started or finished for this long: the scheduler is stuck


#: a step of a job: what it does (for the log), and the step itself, given the current time
Step = tuple[str, Callable[[datetime], object]]


class Steps(Protocol):
    """What the timer runs: each job (``tick``, ``sweep``, ``heartbeat``, ``dispatch``,
    ``refresh``) is a list of named steps, each guarded on its own."""

    def steps(self, job: str) -> Sequence[Step]: ...
    def dispatch_times(self, now: datetime) -> Sequence[datetime]: ...


class _QuietOverlap(logging.Filter):
    """A tick that overlaps a long one is skipped by design: don't warn about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


REPEAT_LOG_S = 60.0  # the same failure of a step is logged again at most this often


@dataclass
class _Failing:
    text: str
    since: float  # monotonic seconds
    logged_at: float
    unlogged: int = 0  # failures since the last line


class Guard:
    """Runs a step so that an exception never escapes: logged with what it was doing, counted.

    A step that keeps failing the same way (the database away for an hour, with a tick every
    second) is logged once, then once a minute with how often it failed meanwhile, and once
    when it works again: the journal stays readable."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.failures: Counter[str] = Counter()
        self.last_error: dict[str, str] = {}
        self._monotonic = monotonic
        self._failing: dict[str, _Failing] = {}

    def __call__(self, name: str, step: Callable[[], object]) -> bool:
        try:
            step()
        except IpfmError as exc:  # an expected fault (database away, ...): one line
            self._record(name, str(exc), bug=False)
            return False
        except Exception as exc:  # a bug: the trace helps, and the daemon goes on
            self._record(name, f"{type(exc).__name__}: {exc}", bug=True)
            return False
        self.last_error.pop(name, None)
        failing = self._failing.pop(name, None)
        if failing is not None:
            failed = self.failures[name]
            log.info(_("%s works again (it failed %d time(s) in all so far)"), _(name), failed)
        return True

    def _record(self, name: str, error: str, *, bug: bool) -> None:
        self.failures[name] += 1
        self.last_error[name] = error
        now = self._monotonic()
        failing = self._failing.get(name)
        if failing is not None and failing.text == error:
            if now - failing.logged_at < REPEAT_LOG_S:
                failing.unlogged += 1
                return
            log.error(
                _("%s still failing (%d more time(s) in the last %.0f s, failing for %.0f s): %s"),
                _(name),
                failing.unlogged + 1,
                now - failing.logged_at,
                now - failing.since,
                error,
            )
            failing.logged_at, failing.unlogged = now, 0
            return
        self._failing[name] = _Failing(error, now, now)
        if bug:
            log.exception(_("%s failed (a bug: please report it)"), _(name))
        else:
            log.error(_("%s failed: %s"), _(name), error)


class Timer:
    def __init__(
        self,
        jobs: Steps,
        clock: Clock,
        *,
        misfire_grace_s: int = 300,
        tick_s: float = 1.0,
        sweep_s: float = 30.0,
        heartbeat_s: float = 5.0,
        refresh_s: float = 3600.0,
    ) -> None:
        self.jobs = jobs
        self.clock = clock
        self.guard = Guard()
        self.misfire_grace_s = misfire_grace_s
        self._periods = {"tick": tick_s, "sweep": sweep_s, "heartbeat": heartbeat_s}
        self._refresh_s = refresh_s
        self._progress = time.monotonic()
        self._lock = threading.Lock()
        self.ticks = 0
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("apscheduler.scheduler").addFilter(_QuietOverlap())

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        first = self.clock.now()  # each interval job runs at once, then every period
        for name, period in self._periods.items():
            self.scheduler.add_job(
                self.run,
                "interval",
                seconds=period,
                args=(name,),
                id=name,
                name=name,
                next_run_time=first,
            )
        self.scheduler.add_job(
            self._refresh, "interval", seconds=self._refresh_s, id="refresh", name="refresh"
        )
        self.plan_dates()
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop starting jobs and wait for the running one to finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def healthy(self) -> bool:
        """The scheduler runs and a job started or finished within ``STALL_S``."""
        with self._lock:
            return self.running and time.monotonic() - self._progress < STALL_S

    # ------------------------------------------------------------------ jobs

    def plan_dates(self) -> int:
        """(Re)create one date job per upcoming dispatch instant; returns how many."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("dispatch-"):
                job.remove()
        times = list(self.jobs.dispatch_times(self.clock.now()))
        for at in times:
            self.scheduler.add_job(
                self.run,
                "date",
                run_date=at,
                args=("dispatch",),
                id=f"dispatch-{at:%Y%m%dT%H%M%SZ}",
                name=f"dispatch at {at:%Y-%m-%d %H:%M:%S}Z",
                misfire_grace_time=self.misfire_grace_s,
                replace_existing=True,
            )
        return len(times)

    def _refresh(self) -> None:
        self.run("refresh")
        self.guard(N_("refresh (date jobs)"), self.plan_dates)

    def run_soon(self, name: str, func: Callable[[], object]) -> None:
        """Run ``func`` once on the worker thread, as soon as the running job (if any) ends:
        never at the same time as a job."""
        self.scheduler.add_job(func, id=name, name=name, replace_existing=True)

    def run_and_wait(self, name: str, label: str, func: Callable[[], object], wait: float) -> bool:
        """:meth:`run_soon` ``func`` (guarded as ``label``), and wait for it: True if it ran,
        without an error, within ``wait`` seconds."""
        done = threading.Event()
        ran: list[bool] = []

        def job() -> None:
            try:
                ran.append(self.guard(label, func))
            finally:
                done.set()

        self.run_soon(name, job)
        return done.wait(wait) and all(ran)

    def run(self, name: str) -> None:
        self.mark()
        try:
            now = self.clock.now()
            for label, step in self.jobs.steps(name):
                self.guard(label, functools.partial(step, now))
        finally:
            self.mark()
            if name == "tick":
                self.ticks += 1

    def mark(self) -> None:
        """Progress: a job started or finished, or a long step showed it is moving (a slot to
        100,000 receivers sending while it takes in answers: not a stuck scheduler)."""
        with self._lock:
            self._progress = time.monotonic()

    def date_jobs(self) -> list[datetime]:
        return sorted(
            job.next_run_time
            for job in self.scheduler.get_jobs()
            if job.id.startswith("dispatch-") and job.next_run_time is not None
        )
