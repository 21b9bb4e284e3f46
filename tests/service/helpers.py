"""Builders for service tests: a station, a plan, a dispatcher wired to fakes."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ipfm_scheduler.config.settings import (
    AudioFile,
    AudioSettings,
    DispatchSettings,
    HttpSettings,
    KeySet,
    LoadedConfig,
    MqttSettings,
    SigningKey,
    SigningSettings,
    StationConfig,
)
from ipfm_scheduler.core.model import Programme, Schedule, Ward
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.jobs import Dispatcher
from ipfm_scheduler.storage.memory import MemoryLog
from tests.core.factories import programme as make_programme
from tests.core.factories import ward as make_ward
from tests.core.factories import weekly
from tests.service.fake_mqtt import FakeOutbox

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PREFIX = "ipfm-t"
SHA = "ab" * 32


def local(day: date, hhmm: str, tz: ZoneInfo = TZ) -> datetime:
    hour, minute, *second = (int(x) for x in hhmm.split(":"))
    moment = datetime(day.year, day.month, day.day, hour, minute, *second, tzinfo=tz)
    return moment.astimezone(UTC)


MONDAY = date(2026, 11, 23)  # 2026-W48


def station(
    programmes: dict[str, Programme],
    *,
    tz: ZoneInfo = TZ,
    lead_s: int = 120,
    resend_after_s: int = 30,
    prefix: str = PREFIX,
    database_url: str = "sqlite://",
    mqtt: MqttSettings | None = None,
    audio_dir: Path = Path("/nonexistent"),
    signing: SigningSettings | None = None,
) -> StationConfig:
    audio = {
        pid: AudioFile(audio_dir / f"{pid}.mp3", SHA, 4096, p.duration_s)
        for pid, p in programmes.items()
    }
    return StationConfig(
        path=Path("/nonexistent/ipfm.yaml"),
        timezone=tz,
        database_url=database_url,
        mqtt=mqtt or MqttSettings(topic_prefix=prefix),
        audio=AudioSettings(dir=audio_dir, base_url="http://127.0.0.1:8079/audio"),
        http=HttpSettings(enabled=False),
        signing=signing or SigningSettings(),
        dispatch=DispatchSettings(lead_s=lead_s, resend_after_s=resend_after_s),
        programmes=programmes,
        programme_audio=audio,
        wards_dir=Path("/nonexistent/wards"),
    )


def keyed(pairs: Iterable[tuple[str, str]]) -> SigningSettings:
    """Signing as `keys init` sets it up: a command key, and a key of its own for each of
    ``pairs`` (ward, receiver); secrets random, as the real ones."""

    def key(kid: str) -> SigningKey:
        return SigningKey(kid, secrets.token_hex(32).encode())

    return SigningSettings(
        commands=KeySet(key("k-commands")),
        receivers={pair: KeySet(key(f"k-{pair[1]}")) for pair in pairs},
    )


def make_plan(*wards: Ward, programme: Programme | None = None, **kwargs: object) -> Plan:
    prog = programme or make_programme()
    programmes = {prog.id: prog}
    schedule = Schedule(TZ, programmes, {w.id: w for w in wards})
    return Plan(station(programmes, **kwargs), schedule)  # type: ignore[arg-type]


def default_ward() -> Ward:
    """cam-trung: loa-01, loa-02; windows 05:30-06:30 daily, 17:00-18:00 weekdays; kh179 Mon and
    Thu 06:00."""
    return make_ward(weekly("mon,thu", "06:00"))


class Rig:
    """A dispatcher wired to fakes, with a clock the test moves."""

    def __init__(
        self, plan: Plan, now: datetime, log: Any = None, spill: Path | None = None
    ) -> None:
        durations = {p.id: p.duration_s for p in plan.schedule.programmes.values()}
        self.log = log or MemoryLog(durations)
        if plan.snapshot_id is None:
            loaded = LoadedConfig(plan.station, plan.schedule, {}, ())
            plan = replace(plan, snapshot_id=self.log.record_config(loaded, now=now))
        self.plan = plan
        self.now = now
        self.outbox = FakeOutbox()
        self.dispatcher = Dispatcher(self.log, self.outbox, plan, now=now, spill=spill)

    def at(self, moment: datetime) -> Rig:
        self.now = moment
        return self

    def advance(self, **kwargs: float) -> Rig:
        self.now += timedelta(**kwargs)
        return self

    def tick(self) -> None:
        d = self.dispatcher
        d.receive(self.now)
        d.take_requests(self.now)
        d.dispatch_due(self.now)
        d.send(self.now)
        d.expire(self.now)

    def sweep(self) -> None:
        self.dispatcher.refresh(self.now)
        self.dispatcher.make_up(self.now)
        self.dispatcher.close_weeks(self.now)
