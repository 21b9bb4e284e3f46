"""How long does a dispatch wait while a week is closed? (issue 15, item 3.)

The week close runs in the timer's ``sweep`` job, and the timer has one worker: a dispatch due
meanwhile waits for the step that runs. On the airing log of ``bench.national_rest`` (filled
the same way: week W of 1,000 wards x 100 receivers, 700,000 commands), a real ``Timer``
(APScheduler, one worker) runs the sweep every second (instead of 30 s: the close's steps
nearly back to back) and a dispatch job every 0.7 s, each of which notes how long it waited
past its due time, until the week is closed. Printed for each way of closing: the longest and
the mean wait of the dispatches due during the close, its steps' longest and the whole close:

* ``steps``: the sweep's step now, ``Weekly.close_step`` (about 10,000 receivers a step, the
  verdicts written by the last);
* ``whole``: the step before, ``Weekly.close_weeks`` (the whole week in one step; the week
  closed again: new rows, as a late close would add).

    python -m bench.close_dispatch [--databases sqlite,postgresql] [--wards 1000]
    python -m bench.close_dispatch --url URL --snapshot ID --station DIR  # filled before
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from bench.history import database
from bench.national_rest import PG_ADMIN, fill
from bench.station import TZ, Slot, write_station
from ipfm_scheduler.clock import SystemClock
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.service.timer import Step, Timer
from ipfm_scheduler.service.weekly import Weekly
from ipfm_scheduler.service.wiring import load_config
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.repository import Repository

GRACE = timedelta(minutes=2)
PROBE_EVERY_S = 0.7
PROBES = 200  # 140 s of dispatches: longer than any close measured


class Jobs:
    """The timer's steps: ``sweep`` runs one step of the close (``step``: True once the week
    is closed), ``dispatch`` notes how long it waited."""

    def __init__(self, step: Callable[[], bool]) -> None:
        self.step = step
        self.steps_took: list[float] = []
        self.due: dict[str, float] = {}
        self.probes: list[tuple[float, float]] = []  # (due, started)
        self.closed = threading.Event()
        self.closed_at = 0.0

    def steps(self, job: str) -> Sequence[Step]:
        if job == "sweep" and not self.closed.is_set():
            return [("close", lambda _now: self._close())]
        return []

    def _close(self) -> None:
        started = time.perf_counter()
        done = self.step()
        self.steps_took.append(time.perf_counter() - started)
        if done:
            self.closed_at = time.perf_counter()
            self.closed.set()

    def probe(self, name: str) -> None:
        self.probes.append((self.due[name], time.perf_counter()))

    def waited(self) -> list[float]:
        """How long each dispatch due before the week was closed waited."""
        return [started - due for due, started in self.probes if due < self.closed_at]

    def dispatch_times(self, now: datetime) -> Sequence[datetime]:
        return []


def run(label: str, step: Callable[[], bool]) -> str:
    jobs = Jobs(step)
    timer = Timer(jobs, SystemClock(), tick_s=3600, sweep_s=1.0, heartbeat_s=3600)
    started, wall = datetime.now(UTC), time.perf_counter()
    for i in range(PROBES):
        after = 0.3 + i * PROBE_EVERY_S
        name = f"probe-{i}"
        jobs.due[name] = wall + after
        timer.scheduler.add_job(jobs.probe, "date", args=(name,), id=name,
                                run_date=started + timedelta(seconds=after),
                                misfire_grace_time=None)  # fmt: skip
    timer.start()
    jobs.closed.wait(900)
    time.sleep(0.1)  # the dispatches queued behind the last step run
    took = jobs.closed_at - wall
    timer.scheduler.remove_all_jobs()
    timer.shutdown()
    waits = jobs.waited() or [0.0]
    line = (f"  {label:<6} dispatch waited at most {max(waits):6.2f} s (mean "
            f"{sum(waits) / len(waits):5.2f} s, {len(jobs.waited())} due); "
            f"{len(jobs.steps_took)} step(s) ({' '.join(f'{s:.1f}' for s in jobs.steps_took)} s); "
            f"closed in {took:6.2f} s")  # fmt: skip
    print(line, flush=True)
    return line


def bench(url: str, station: Path, snapshot: int, week: IsoWeek) -> list[str]:
    following = week.next()
    monday = datetime.combine(following.monday, clock(6), tzinfo=TZ)
    loaded = load_config(station, monday.date())
    assert loaded.station is not None
    assert loaded.schedule is not None
    plan = Plan(loaded.station, loaded.schedule, snapshot)
    repo = Repository(open_engine(url))
    close_at = datetime.combine(following.monday, clock(1), tzinfo=TZ)
    lines = []
    weekly = Weekly(repo, Metrics())

    def step() -> bool:
        return bool(weekly.close_step(plan, close_at, expire_grace=GRACE))

    lines.append(run("steps", step))
    again = Weekly(repo, Metrics())
    again._closed_through = week.previous()  # the week closed again (new rows)

    def whole() -> bool:
        return bool(again.close_weeks(plan, close_at, expire_grace=GRACE))

    lines.append(run("whole", whole))
    repo.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wards", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--url", help="an airing log filled before (as bench.national_rest)")
    parser.add_argument("--snapshot", type=int, help="with --url: its snapshot id")
    parser.add_argument("--station", type=Path, help="with --url: its station's folder")
    args = parser.parse_args(argv)
    week = IsoWeek.containing(datetime.now(UTC), TZ).previous()
    monday = datetime.combine(week.next().monday, clock(6), tzinfo=TZ)
    lines: list[str] = []
    if args.url:
        lines += [args.url, *bench(args.url, args.station / "ipfm.yaml", args.snapshot, week)]
    with tempfile.TemporaryDirectory(prefix="ipfm-close-") as tmp:
        for kind in [] if args.url else args.databases.split(","):
            with database(kind.strip(), PG_ADMIN) as url:
                station = write_station(Path(tmp), wards=args.wards, receivers=args.receivers,
                                        mqtt_port=1, prefix="ipfm", database=url,
                                        slot=Slot(monday, 60),
                                        keys=not (Path(tmp) / "keys").exists())  # fmt: skip
                loaded = load_config(station, monday.date())
                snapshot, _written = fill(url, loaded, args.wards, args.receivers, week)
                lines += [kind, *bench(url, station, snapshot, week)]
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
