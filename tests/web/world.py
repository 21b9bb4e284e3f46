"""The Cẩm Phả sample after a simulated fortnight, in a real SQLite database filled through the
Repository as the service fills it: week 2025-W47 finished, week 2025-W48 up to Thursday
20:00 (both in the past, so that `report`, which reads the clock, gives final verdicts).

This week (W48) at Thursday 27/11/2025 20:00:
- cam-trung: loa-01 completed Monday (green), loa-02 failed Monday and Thursday (red: nothing
  left this week), loa-03 has Thursday's command unanswered (amber), loa-04 disabled (grey);
- cam-phu (Wednesdays only): loa-02 failed (red);
- cam-son (Saturdays only): nothing aired yet (amber);
- every other receiver completed every airing (green); cua-ong/loa-06 is offline.
Last week (W47): every receiver completed, except cam-trung/loa-02 (failed: short).
The ward cam-hai is named with a script tag, which every page must show as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.expand import expand_between
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import (
    AiringToStore,
    IncomingAck,
    IncomingStatus,
    NewCommand,
    SendOutcome,
    SendResult,
)
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from tests.sample import copy_sample
from tests.storage.storage_factories import Answer

VN = ZoneInfo("Asia/Ho_Chi_Minh")
LAST_WEEK = IsoWeek(2025, 47)
THIS_WEEK = IsoWeek(2025, 48)
NOW = datetime(2025, 11, 27, 20, 0, tzinfo=VN)  # Thursday of W48
EVIL = "<script>alert('x')</script>"
FAILING = {("cam-trung", "loa-02"), ("cam-phu", "loa-02")}
SILENT = {("cam-trung", "loa-03")}  # takes Thursday's command, never answers
OFFLINE = {("cua-ong", "loa-06")}


@dataclass(frozen=True, slots=True)
class World:
    station: Path
    url: str
    repo: Repository
    loaded: LoadedConfig


def build(tmp: Path) -> World:
    station = copy_sample(tmp)
    ward_file = station.parent / "wards" / "cam-hai.yaml"
    text = ward_file.read_text(encoding="utf-8")
    name_line = next(line for line in text.splitlines() if line.startswith("name:"))
    ward_file.write_text(
        text.replace(name_line, f'name: "Phường Cẩm Hải {EVIL}"'), encoding="utf-8"
    )
    (tmp / "var").mkdir(exist_ok=True)
    url = f"sqlite:///{tmp / 'var' / 'ipfm.db'}"
    engine = open_engine(url)
    upgrade(engine)
    repo = Repository(engine)
    loaded = load(station, today=NOW.date())
    assert loaded.ok, loaded.problems
    snapshot = repo.record_config(loaded, now=LAST_WEEK.start(VN) - timedelta(days=1))
    for week, until in ((LAST_WEEK, LAST_WEEK.end(VN)), (THIS_WEEK, NOW)):
        _air(repo, loaded, snapshot, week.start(VN), until, last_week=week == LAST_WEEK)
    statuses = [
        IncomingStatus(w.id, r.id, (w.id, r.id) not in OFFLINE, NOW, "1.4.2", b"{}")
        for w in loaded.schedule.wards.values()  # type: ignore[union-attr]
        for r in w.enabled_receivers
    ]
    repo.record_statuses(statuses, now=NOW - timedelta(hours=1))
    return World(station, url, repo, loaded)


def _air(
    repo: Repository,
    loaded: LoadedConfig,
    snapshot: int,
    start: datetime,
    until: datetime,
    *,
    last_week: bool,
) -> None:
    assert loaded.schedule is not None
    assert loaded.station is not None
    schedule = loaded.schedule
    for ward in sorted(schedule.wards.values(), key=lambda w: w.id):
        for n, planned in enumerate(expand_between(ward, schedule.programmes, VN, start, until)):
            audio = schedule.programmes[planned.programme].audio.removesuffix(".mp3")
            commands = tuple(
                NewCommand(
                    f"{ward.id}-{planned.start:%Y%m%d%H%M}-{r.id}",
                    r.id,
                    f"ipfm/{ward.id}/{r.id}/cmd",
                    b'{"v":1}',
                )
                for r in ward.enabled_receivers
            )
            item = AiringToStore(planned, Priority.NORMAL, audio, commands)
            repo.store_airings(
                [item], snapshot_id=snapshot, now=planned.start - timedelta(minutes=3)
            )
            sent_at = planned.start - timedelta(minutes=2)
            repo.record_sends([SendResult(c.id, SendOutcome.PUBACK) for c in commands], now=sent_at)
            done = planned.start + timedelta(minutes=11)
            acks = []
            for c in commands:
                key = (ward.id, c.receiver)
                if key in SILENT and not last_week:
                    continue
                failed = key in FAILING and (not last_week or key == ("cam-trung", "loa-02"))
                status = AckStatus.FAILED if failed else AckStatus.COMPLETED
                answer = Answer(c.id, status, done, "amplifier" if failed else None,
                                None if failed else 612.0, done.isoformat())  # fmt: skip
                acks.append(IncomingAck(ward.id, c.receiver, f"{ward.id}/{c.receiver}/ack",
                                        b"{}", ack=answer, verified=True))  # type: ignore[arg-type]  # fmt: skip
            repo.record_acks(acks, now=done)
            del n


def today() -> date:
    return NOW.date()


def utc_now() -> datetime:
    return NOW.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Ran:
    code: int
    out: bytes
    err: str


def run(*args: str, input_text: str | None = None) -> Ran:
    """``ipfm-scheduler ARGS`` in this process, through the real entry point, with
    ``input_text`` on its standard input."""
    from click.testing import CliRunner

    from ipfm_scheduler.cli import main

    runner = CliRunner()
    with runner.isolation(input=input_text) as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Ran(code, out, err.decode("utf-8"))
