"""A generated station for the national benchmark: ``wards`` ward files of ``receivers``
loudspeakers each (``w0000/loa-00`` ...), signing on as `keys init` sets it up (a command key and
each receiver's own key), one airing of kh179 at one minute today, windows all day.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ipfm_scheduler.config import keyfiles
from tests.brokers import free_port

ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = ROOT / "audio"
AUDIO_FILE = "d49eace7f4195683fdc0faa737ca5ccdf924dd2fbb1d157afc4ce4738babbbf5.mp3"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Slot:
    """The airing's start (local minute) and its dispatch instant (start - lead_s)."""

    start: datetime
    lead_s: int

    @property
    def instant(self) -> datetime:
        return self.start - timedelta(seconds=self.lead_s)


def slot_after(margin_s: float, now: datetime | None = None) -> Slot:
    """A slot whose dispatch instant is about ``margin_s`` from now (lead 60-120 s)."""
    now = now or datetime.now(UTC)
    target = now + timedelta(seconds=margin_s)
    start = (target + timedelta(seconds=60)).astimezone(TZ)
    start = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    lead = math.floor((start - target).total_seconds())
    return Slot(start, lead)


def write_station(
    folder: Path,
    *,
    wards: int,
    receivers: int,
    mqtt_port: int,
    prefix: str,
    database: str,
    slot: Slot,
    keys: bool = True,
) -> Path:
    """The station file (``folder/ipfm.yaml``), its ward files and (``keys``) its keys folder
    (made once: kept for the next station written in ``folder``)."""
    (folder / "wards").mkdir(parents=True, exist_ok=True)
    http = free_port()
    station = folder / "ipfm.yaml"
    station.write_text(
        f"""timezone: Asia/Ho_Chi_Minh
database: {database}
mqtt:
  url: mqtt://127.0.0.1:{mqtt_port}
  topic_prefix: {prefix}
audio:
  dir: {AUDIO_DIR}
  base_url: http://127.0.0.1:{http}/audio
http:
  listen: 127.0.0.1:{http}
dispatch:
  lead_s: {slot.lead_s}
  resend_after_s: 60
  misfire_grace_s: 300
programmes:
  kh179:
    title: "Kế hoạch 179-KH/TU"
    audio: {AUDIO_FILE}
    min_per_week: 1
wards: wards/
""",
        encoding="utf-8",
    )
    day = DAYS[slot.start.weekday()]
    at = slot.start.strftime("%H:%M")
    names = "\n".join(f"  - id: loa-{j:02d}" for j in range(receivers))
    for i in range(wards):
        (folder / "wards" / f"w{i:04d}.yaml").write_text(
            f"""id: w{i:04d}
name: Phường {i}
receivers:
{names}
windows:
  - days: [mon, tue, wed, thu, fri, sat, sun]
    from: "00:00"
    to: "23:59"
airings:
  - programme: kh179
    days: [{day}]
    at: "{at}"
""",
            encoding="utf-8",
        )
    if keys:
        pairs = [(f"w{i:04d}", f"loa-{j:02d}") for i in range(wards) for j in range(receivers)]
        keyfiles.init_keys(folder / "keys", pairs, datetime.now(UTC))
    return station


def service_command(station: Path, *args: str) -> list[str]:
    """``ipfm-scheduler --config station ARGS`` of this checkout (not the installed one)."""
    return [sys.executable, "-c", "from ipfm_scheduler.cli import main; main()",
            "--config", str(station), *args]  # fmt: skip


def service_env(folder: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        STATE_DIRECTORY=str(folder / "state"),
        IPFM_LANG="en",
    )


def wait_line(log: Path, text: str, timeout: float) -> float | None:
    """Wait for ``text`` in the file ``log``; the time (time.time()) it was seen, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return time.time()
        time.sleep(0.1)  # a benchmark's poll of another process's log, not a test
    return None
