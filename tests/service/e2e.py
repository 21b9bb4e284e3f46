"""End-to-end rigs: the dispatcher with the REAL adapters (SQLite airing log, MQTT transport,
receiver protocol) against a real mosquitto and simulated receivers; and a station on disk for
running `ipfm-scheduler run` as a subprocess. Time is a manual clock shared with the simulator;
waiting is on events and conditions with timeouts, never a bare sleep."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ipfm_scheduler.config import keyfiles
from ipfm_scheduler.config.settings import MqttSettings, SigningSettings
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Receiver, Ward
from ipfm_scheduler.protocol import OwnKey, canonical
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.jobs import Dispatcher
from ipfm_scheduler.simulator import Behaviour, Handled, ManualClock, Simulator, TimeMode
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.transport.outbox import MqttOutbox
from tests.brokers import free_port
from tests.core.factories import programme, ward, weekly
from tests.service.helpers import TZ, keyed, make_plan

ROOT = Path(__file__).resolve().parents[2]
# The live rig's programme lasts a few seconds, so that the simulated receivers' `completed`,
# sent at once (instant mode), is possible in time: the airing log refuses a `completed` that
# comes sooner after the command than its recording lasts (a test shows that on its own).
JINGLE_S = 3.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Check ``condition`` until it holds; fail after ``timeout`` seconds saying ``what``."""
    gate = threading.Event()
    deadline = threading.Timer(timeout, gate.set)
    deadline.start()
    try:
        while not condition():
            if gate.wait(0.05):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
    finally:
        deadline.cancel()


def wards_of(count: int, receivers: int, days: str = "mon", at: str = "06:00") -> list[Ward]:
    names = tuple(Receiver(f"loa-{i:02d}") for i in range(1, receivers + 1))
    return [ward(weekly(days, at), receivers=names, wid=f"ward-{i:02d}") for i in range(count)]


class Plays:
    """What the simulated receivers did: plays per (ward, receiver), duplicates seen."""

    def __init__(self) -> None:
        self.plays: Counter[tuple[str, str]] = Counter()
        self.kinds: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.changed = threading.Event()

    def __call__(self, handled: Handled) -> None:
        with self._lock:
            self.kinds[handled.outcome.kind] += 1
            if handled.outcome.kind == "play":
                self.plays[(handled.ward, handled.receiver)] += 1
        self.changed.set()


class LiveRig:
    """The dispatcher on real adapters; ``clock`` is shared with the simulators."""

    def __init__(
        self,
        tmp: Path,
        host: str,
        port: int,
        prefix: str,
        wards: list[Ward],
        start: datetime,
        *,
        plan: Plan | None = None,
        signed: bool = True,
        settings: MqttSettings | None = None,
    ) -> None:
        """``settings``: the service's broker(s) instead of ``host``:``port`` (a list of them)."""
        self.clock = ManualClock(start)
        self.settings = settings or MqttSettings(host=host, port=port, topic_prefix=prefix)
        self.prefix = prefix
        self.engine = open_engine(f"sqlite:///{tmp / 'ipfm.db'}")
        upgrade(self.engine)
        self.repo = Repository(self.engine)
        self.log = self.repo
        self.outbox = MqttOutbox(self.settings, prefix=prefix)
        assert self.outbox.wait_connected(10.0)
        pairs = [(w.id, r.id) for w in wards for r in w.enabled_receivers]
        self.signing = keyed(pairs) if signed else SigningSettings()
        base = plan or make_plan(
            *wards, prefix=prefix, programme=programme(duration_s=JINGLE_S), signing=self.signing
        )
        from ipfm_scheduler.config.settings import LoadedConfig

        snapshot = self.log.record_config(
            LoadedConfig(base.station, base.schedule, {}, ()), now=start
        )
        self.plan = Plan(base.station, base.schedule, snapshot)
        self.dispatcher = Dispatcher(self.log, self.outbox, self.plan, now=start)
        self.sims: list[Simulator] = []
        self.plays = Plays()

    def now(self) -> datetime:
        return self.clock.now()

    def simulate(
        self,
        pairs: list[tuple[str, str]],
        *,
        fail_rate: float = 0.0,
        port: int | None = None,
        also: Callable[[Handled], None] | None = None,
        version_1: bool = False,
        settings: MqttSettings | None = None,
    ) -> Simulator:
        """Simulated receivers for ``pairs``, signing with their own keys (version 2), or
        ``version_1``: boxes not updated yet, which have no key of their own. ``settings``:
        their broker(s), else the service's (or the one on ``port``)."""
        if settings is None:
            settings = (
                self.settings
                if port is None
                else MqttSettings(host=self.settings.host, port=port, topic_prefix=self.prefix)
            )
        signing = self.plan.station.signing
        own = {pair: key for pair in pairs if (key := signing.own_key(*pair)) is not None}
        own = {} if version_1 else own
        day = self.now().astimezone(TZ).date()
        commands = {k: v for w, _ in pairs for k, v in signing.command_keys(w, day).items()}
        sim = Simulator(
            settings,
            pairs,
            Behaviour(
                keys=commands, own_keys=own, fail_rate=fail_rate, mode=TimeMode.INSTANT, tz=TZ
            ),
            prefix=self.prefix,
            clock=self.clock,
            on_handled=self.plays if also is None else lambda h: (self.plays(h), also(h)),
        )
        sim.start()
        self.sims.append(sim)
        return sim

    def signed(self, ward: str, receiver: str, body: dict[str, object]) -> bytes:
        """``body`` (an answer, version 1 fields) as the receiver would sign it (version 2)."""
        key = self.plan.station.signing.own_key(ward, receiver)
        assert key is not None, f"{ward}/{receiver} has no key"
        return canonical(OwnKey(ward, receiver, key).signed(dict(body)))

    def pairs(self) -> list[tuple[str, str]]:
        return [
            (w.id, r.id) for w in self.plan.schedule.wards.values() for r in w.enabled_receivers
        ]

    def at(self, moment: datetime) -> LiveRig:
        self.clock.set(moment)
        return self

    def tick(self) -> None:
        now = self.now()
        d = self.dispatcher
        d.receive(now)
        d.take_requests(now)
        d.dispatch_due(now)
        d.send(now)
        d.expire(now)

    def sweep(self) -> None:
        now = self.now()
        self.dispatcher.refresh(now)
        self.dispatcher.make_up(now)
        self.dispatcher.close_weeks(now)

    def pump(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Tick (at the clock's time) until ``condition`` holds, waiting on incoming messages."""
        if not self.settle(condition, timeout):
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}: commands "
                f"{dict(self.states())}, {self.dispatcher.sender.in_flight} in flight, "
                f"{self.outbox.transport.outstanding} outstanding"
            )

    def settle(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Like :meth:`pump`, but says whether ``condition`` came to hold in time."""
        gate = threading.Event()
        deadline = threading.Timer(timeout, gate.set)
        deadline.start()
        try:
            while True:
                self.tick()
                if condition():
                    return True
                if gate.is_set():
                    return False
                self.outbox.wait_incoming(0.2)
        finally:
            deadline.cancel()

    def states(self) -> Counter[CommandState]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.commands.c.state, func.count()).group_by(t.commands.c.state)
            )
            return Counter({CommandState(s): int(n) for s, n in rows})

    def all_in(self, state: CommandState, count: int) -> Callable[[], bool]:
        return lambda: self.states() == Counter({state: count})

    def count(self, table: object) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]

    def close(self) -> None:
        for sim in self.sims:
            sim.stop()
        self.outbox.close()
        self.engine.dispose()


def plus(moment: datetime, **kwargs: float) -> datetime:
    return moment + timedelta(**kwargs)


AUDIO_DIR = ROOT / "audio"
AUDIO_FILE = "d49eace7f4195683fdc0faa737ca5ccdf924dd2fbb1d157afc4ce4738babbbf5.mp3"


def write_station(
    folder: Path,
    *,
    prefix: str,
    mqtt_port: int,
    at: str,
    receivers: int = 3,
    lead_s: int = 900,
    audio: tuple[Path, str] = (AUDIO_DIR, AUDIO_FILE),
) -> Path:
    """A station with one ward airing kh179 every day at ``at`` (local), windows all day, an
    SQLite database in ``folder`` and the HTTP server on a free port. Returns the station file.
    ``audio``: (folder, file) of kh179's recording (the sample's, by default)."""
    audio_dir, audio_file = audio
    (folder / "wards").mkdir(parents=True, exist_ok=True)
    station = folder / "ipfm.yaml"
    http = free_port()
    station.write_text(
        f"""timezone: Asia/Ho_Chi_Minh
database: sqlite:///{folder / "ipfm.db"}
mqtt:
  url: mqtt://127.0.0.1:{mqtt_port}
  topic_prefix: {prefix}
  client_id: ipfm-scheduler-{prefix}
audio:
  dir: {audio_dir}
  base_url: http://127.0.0.1:{http}/audio
http:
  listen: 127.0.0.1:{http}
dispatch:
  lead_s: {lead_s}
  resend_after_s: 30
  misfire_grace_s: 300
programmes:
  kh179:
    title: "Kế hoạch 179-KH/TU"
    audio: {audio_file}
    min_per_week: 1
wards: wards/
""",
        encoding="utf-8",
    )
    write_ward(folder, at=at, receivers=receivers)
    # signing on, as `keys init` sets it up: the processes (run, simulate, ipfm-receiver) sign
    pairs = [("ward-00", f"loa-{i:02d}") for i in range(1, receivers + 1)]
    keyfiles.init_keys(folder / "keys", pairs, datetime.now(UTC))
    return station


def signing_of(station: Path) -> dict[str, Any]:
    """Keywords of :class:`Behaviour` for boxes set up as `keys init` did for ``station``: the
    command keys they check, and each one's own key (its answers are signed, version 2)."""
    commands, receivers = keyfiles.read_keys_dir(station.parent / "keys")
    today = datetime.now(UTC).date()
    own = {pair: keys.current for pair, keys in receivers.items() if keys.current is not None}
    return {"keys": commands.accepted(today) if commands else {}, "own_keys": own}


EVERY_DAY = "mon, tue, wed, thu, fri, sat, sun"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def airing_days(at: str, now: datetime | None = None) -> str:
    """The days a test ward airs at ``at`` (local HH:MM): every day, except when ``at`` is
    earlier in the day than now (an airing soon after midnight, written late in the evening):
    then only tomorrow, so that this morning's airing, whose all-day window is still open,
    is not also sent late."""
    local = (now or datetime.now(VN)).astimezone(VN)
    try:
        hour, minute = (int(part) for part in at.split(":"))
    except ValueError:
        return EVERY_DAY  # not a time: the test wants validate's message
    if (hour, minute) >= (local.hour, local.minute):
        return EVERY_DAY
    return DAY_NAMES[(local.weekday() + 1) % 7]


def write_ward(folder: Path, *, at: str, receivers: int = 3, extra: str = "") -> Path:
    names = "\n".join(f"  - id: loa-{i:02d}" for i in range(1, receivers + 1))
    path = folder / "wards" / "ward-00.yaml"
    path.write_text(
        f"""id: ward-00
name: Phường Thử
receivers:
{names}
windows:
  - days: [mon, tue, wed, thu, fri, sat, sun]
    from: "00:00"
    to: "23:59"
airings:
  - programme: kh179
    days: [{airing_days(at)}]
    at: "{at}"
{extra}""",
        encoding="utf-8",
    )
    return path
