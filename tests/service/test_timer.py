"""The timer: real APScheduler, one worker, jobs that never kill the loop. Waits on events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from ipfm_scheduler.clock import SystemClock
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service import timer as timer_module
from ipfm_scheduler.service.jobs import Jobs as ServiceJobs
from ipfm_scheduler.service.timer import Guard, Timer


class Jobs:
    def __init__(self) -> None:
        self.ticks = 0
        self.ticked = threading.Event()
        self.dispatched = threading.Event()
        self.fail_ticks = 0
        self.bug = False
        self.times: list[datetime] = []
        self.active = 0
        self.overlap = False
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.active += 1
            self.overlap |= self.active > 1

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

    def tick(self, now: datetime) -> None:
        self._enter()
        try:
            self.ticks += 1
            if self.ticks <= self.fail_ticks:
                if self.bug:
                    raise KeyError("bug")
                raise StorageError("database is locked")
            if self.ticks >= self.fail_ticks + 2:
                self.ticked.set()
        finally:
            self._leave()

    def sweep(self, now: datetime) -> None:
        self._enter()
        self._leave()

    def heartbeat(self, now: datetime) -> None:
        self._enter()
        self._leave()

    def dispatch(self, now: datetime) -> None:
        self.dispatched.set()

    def dispatch_times(self, now: datetime) -> Sequence[datetime]:
        return self.times

    def refresh(self, now: datetime) -> None:
        pass

    def steps(self, job: str) -> list[tuple[str, Callable[[datetime], object]]]:
        return [(job, getattr(self, job))]


@pytest.fixture
def jobs() -> Jobs:
    return Jobs()


@pytest.fixture
def timer(jobs: Jobs) -> Iterator[Timer]:
    t = Timer(jobs, SystemClock(), tick_s=0.05, sweep_s=0.05, heartbeat_s=0.05)
    yield t
    t.shutdown()


def test_a_failing_job_is_logged_in_one_line_counted_and_the_loop_goes_on(
    jobs: Jobs, timer: Timer, caplog: pytest.LogCaptureFixture
) -> None:
    jobs.fail_ticks = 2
    with caplog.at_level(logging.ERROR, logger="ipfm_scheduler.service.timer"):
        timer.start()
        assert jobs.ticked.wait(10.0)
    assert timer.guard.failures["tick"] == 2
    assert "tick failed: database is locked" in caplog.messages
    assert all(r.exc_info is None for r in caplog.records)  # an expected fault: no trace
    assert timer.healthy()


def test_a_bug_in_a_job_is_logged_with_its_trace_and_the_loop_goes_on(
    jobs: Jobs, timer: Timer, caplog: pytest.LogCaptureFixture
) -> None:
    jobs.fail_ticks, jobs.bug = 1, True
    with caplog.at_level(logging.ERROR, logger="ipfm_scheduler.service.timer"):
        timer.start()
        assert jobs.ticked.wait(10.0)
    assert any(r.exc_info is not None for r in caplog.records)
    assert timer.guard.last_error.get("tick") is None  # cleared by the next good run


def test_jobs_never_run_at_the_same_time(jobs: Jobs, timer: Timer) -> None:
    jobs.fail_ticks = 0
    timer.start()
    assert jobs.ticked.wait(10.0)
    jobs.ticked.clear()
    jobs.ticks = 0
    assert jobs.ticked.wait(10.0)
    assert not jobs.overlap


def test_one_date_job_per_dispatch_time_and_it_runs_on_time(jobs: Jobs, timer: Timer) -> None:
    now = SystemClock().now()
    jobs.times = [now + timedelta(seconds=0.3), now + timedelta(hours=2)]
    timer.start()
    assert jobs.dispatched.wait(10.0)
    assert timer.date_jobs() == [jobs.times[1]]  # the first one ran
    jobs.times = [now + timedelta(hours=3)]
    assert timer.plan_dates() == 1
    assert timer.date_jobs() == jobs.times


def test_misfire_grace_and_coalescing_are_set_deliberately(jobs: Jobs) -> None:
    """Date jobs: the configured grace; interval jobs: no limit (a late tick still runs, once)."""
    now = SystemClock().now()
    jobs.times = [now + timedelta(hours=1)]
    timer = Timer(jobs, SystemClock(), misfire_grace_s=123)
    timer.start()
    try:
        found = {j.id.split("-")[0]: j for j in timer.scheduler.get_jobs()}
        assert found["dispatch"].misfire_grace_time == 123
        for name in ("tick", "sweep", "heartbeat", "dispatch"):
            assert found[name].coalesce
            assert found[name].max_instances == 1
        assert found["tick"].misfire_grace_time is None
    finally:
        timer.shutdown()


def test_the_guard_returns_whether_the_step_went_through() -> None:
    guard = Guard()
    assert guard("ok", lambda: None)
    assert not guard("db", lambda: (_ for _ in ()).throw(StorageError("gone")))
    assert guard.failures["db"] == 1
    assert guard.last_error["db"] == "gone"


def test_shutdown_waits_for_the_running_job(jobs: Jobs) -> None:
    release, entered, finished = threading.Event(), threading.Event(), threading.Event()

    class Slow(Jobs):
        def tick(self, now: datetime) -> None:
            entered.set()
            release.wait(10.0)
            finished.set()

    timer = Timer(Slow(), SystemClock(), tick_s=0.05)
    timer.start()
    assert entered.wait(10.0)
    stopper = threading.Thread(target=timer.shutdown)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # still waiting for the tick
    release.set()
    stopper.join(10.0)
    assert finished.is_set()
    assert not timer.running


def test_a_step_that_keeps_failing_is_logged_once_a_minute_not_every_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database away with a tick every second made 3 ERROR lines a second (11,000 an
    hour): the same failure is logged once, then once a minute with a count, then its end."""
    clock = [1000.0]
    guard = Guard(monotonic=lambda: clock[0])
    gone = lambda: (_ for _ in ()).throw(StorageError("database gone"))  # noqa: E731
    with caplog.at_level(logging.INFO, logger="ipfm_scheduler.service.timer"):
        for _ in range(30):  # 30 s of ticks
            assert not guard("tick", gone)
            clock[0] += 1.0
        clock[0] += 31.0  # a minute after the first line
        assert not guard("tick", gone)
        assert guard("tick", lambda: None)
    assert caplog.messages == [
        "tick failed: database gone",
        "tick still failing (30 more time(s) in the last 61 s, failing for 61 s): database gone",
        "tick works again (it failed 31 time(s) in all so far)",
    ]
    assert guard.failures["tick"] == 31


def test_a_long_step_that_shows_progress_is_not_a_stuck_scheduler(
    jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slot to 100,000 receivers can keep one step running for more than ``STALL_S`` on a
    busy machine; while it takes in answers it writes the heartbeat, and that marks progress:
    the watchdog must not restart the service in the middle of the slot."""
    monotonic = [1000.0]
    monkeypatch.setattr(timer_module, "time", SimpleNamespace(monotonic=lambda: monotonic[0]))
    t = Timer(jobs, SystemClock(), tick_s=3600, sweep_s=3600, heartbeat_s=3600)
    try:
        t.start()
        assert t.healthy()
        monotonic[0] += timer_module.STALL_S + 1  # a step runs on without a word
        assert not t.healthy()
        t.mark()  # the step beats
        assert t.healthy()
    finally:
        t.shutdown()


def test_the_heartbeat_written_during_a_send_marks_the_timers_progress() -> None:
    """``Jobs.heartbeat`` (what a long send calls every 5 s) tells the timer it moves."""
    beats: list[datetime] = []
    marks: list[bool] = []
    dispatcher = SimpleNamespace(beat=None)
    airing_log = SimpleNamespace(heartbeat=lambda instance, now: beats.append(now))
    service = ServiceJobs(dispatcher, airing_log, 7)  # type: ignore[arg-type]
    service.progress = lambda: marks.append(True)
    assert dispatcher.beat == service.heartbeat  # what the dispatcher calls during a send
    now = datetime(2026, 12, 7, 6, 58, tzinfo=UTC)
    dispatcher.beat(now)
    assert beats == [now]
    assert marks == [True]
