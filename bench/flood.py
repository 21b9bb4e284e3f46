"""The service under a flood of hostile messages (issue 13, item 4): peak RSS and database growth.

`ipfm-scheduler run` (the real process, SQLite, one ward of 3 receivers) on a private mosquitto
that takes 1 MB messages (``message_size_limit 2000000``; the project's recommended settings
otherwise), while a client that may publish anything sends, QoS 1, as fast as the broker takes
them:

* ``--big`` (4,000) messages of 1 MB of random bytes, half on the ward's receivers' status
  topics, half on their ack topics (each different: nothing to deduplicate);
* ``--small`` (20,000) small ones: half statuses of 5,000 wards that do not exist, half acks of
  the real receivers naming commands that do not exist.

Then it waits until the service has taken every message (its /metrics: quarantined + unknown +
dropped at the intake = sent) and prints the service's peak RSS (VmHWM), its RSS at the end,
the database's growth (file + WAL), the time, and the counters.

    python -m bench.flood [--big 4000] [--small 20000] [--size 1000000] [--tree CHECKOUT]

``--tree`` runs the service of another checkout (``git worktree add /tmp/base 0883edd``) with
this script, to compare (``bench.against`` needs the script in both trees).

Targets (issue 13): peak RSS under 200 MB, database growth under 20 MB.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.transport.mqtt import MqttTransport
from tests.brokers import RECOMMENDED_CONF, PrivateBroker
from tests.service.e2e import write_station

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "ipfm"
RECEIVERS = ("loa-01", "loa-02", "loa-03")
COUNTERS = (
    "ipfm_answers_quarantined_total",
    "ipfm_answers_unknown_total",
    "ipfm_intake_dropped_total",
    "ipfm_intake_cut_total",
    "ipfm_intake_blocked_seconds_total",
)


def status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else -1


def db_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("ipfm.db*"))


def quarantine_rows(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM ack_quarantine").fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def quarantine_bytes(db: Path) -> str:
    """What the quarantine table holds (rows, stored bytes of raw, reason and topic)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        rows, raw, text = conn.execute(
            "SELECT count(*), sum(length(raw)), sum(length(reason) + length(topic)) "
            "FROM ack_quarantine"
        ).fetchone()
    finally:
        conn.close()
    return (
        f"ack_quarantine: {rows} rows, {(raw or 0) / 1e6:.1f} MB of raw, "
        f"{(text or 0) / 1e6:.1f} MB of reason and topic"
    )


def metrics(port: int) -> dict[str, float]:
    """The service's counters (0 for those it does not have, as on an older tree)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return {}
    found = dict.fromkeys(COUNTERS, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


def start_service(station: Path, folder: Path, tree: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PYTHONPATH=str(tree),
        PYTHONUNBUFFERED="1",
        STATE_DIRECTORY=str(folder / "state"),
    )
    cmd = [sys.executable, "-c", "from ipfm_scheduler.cli import main; main()"]
    # cwd: `python -c` looks in the current folder first, before PYTHONPATH
    subprocess.run([*cmd, "--config", str(station), "db", "upgrade"], check=True, env=env,
                   capture_output=True, cwd=tree)  # fmt: skip
    log = (folder / "run.log").open("ab")
    return subprocess.Popen([*cmd, "--config", str(station), "run"], stdout=log,
                            stderr=subprocess.STDOUT, env=env, cwd=tree)  # fmt: skip


def wait_ready(folder: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ready:" in (folder / "run.log").read_text(errors="replace"):
            return
        time.sleep(0.2)  # a benchmark's poll of another process's log, not a test
    raise SystemExit("the service did not say ready: see run.log")


def flood(port: int, big: int, small: int, size: int) -> int:
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{port}", port=port, client_id="attacker")
    attacker = MqttTransport(settings, max_outstanding=200)
    attacker.connect(10)
    block = os.urandom(size)
    sent = 0
    try:
        for i in range(big):
            kind = "status" if i % 2 == 0 else "ack"
            topic = f"{PREFIX}/ward-00/{RECEIVERS[i % 3]}/{kind}"
            attacker.publish(topic, i.to_bytes(8, "big") + block[8:], timeout=60)
            sent += 1
        for i in range(small):
            if i % 2 == 0:
                topic = f"{PREFIX}/ghost-{i % 5000:04d}/loa-01/status"
                payload = b'{"v":1,"state":"online"}'
            else:
                topic = f"{PREFIX}/ward-00/{RECEIVERS[i % 3]}/ack"
                payload = (
                    b'{"v":1,"id":"00000000-0000-4000-8000-%012d","status":"completed",'
                    b'"at":"2026-12-05T06:00:00+07:00"}' % i
                )
            attacker.publish(topic, payload, timeout=60)
            sent += 1
        attacker.flush(120)
    finally:
        attacker.close(5)
    return sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=4000)
    parser.add_argument("--small", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument(
        "--tree", type=Path, default=ROOT,
        help="run the service of this checkout (e.g. an earlier commit's; default: this one)",
    )  # fmt: skip
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipfm-flood-") as scratch:
        folder = Path(scratch)
        conf = RECOMMENDED_CONF.read_text()
        broker = PrivateBroker(folder, extra=f"{conf}\nmessage_size_limit 2000000\n")
        broker.start()
        station = write_station(folder, prefix=PREFIX, mqtt_port=broker.port, at="03:00")
        http_port = int(re.findall(r"listen: 127\.0\.0\.1:(\d+)", station.read_text())[0])
        service = start_service(station, folder, opts.tree)
        try:
            wait_ready(folder)
            before_db, before_rss = db_bytes(folder), status_kb(service.pid, "VmRSS")
            started = time.monotonic()
            sent = flood(broker.port, opts.big, opts.small, opts.size)
            published = time.monotonic() - started
            seen: dict[str, float] = {}
            rows, still = -1, 0
            for _ in range(1200):
                seen = metrics(http_port)
                taken = sum(seen.get(k, 0) for k in COUNTERS[:3])
                if taken >= sent:
                    break
                now_rows = quarantine_rows(folder / "ipfm.db")  # an older tree counts nothing
                still = still + 1 if now_rows == rows else 0
                if not seen.get(COUNTERS[0]) and still >= 20:
                    break
                rows = now_rows
                time.sleep(0.5)  # the service drains its intake once a second
            took = time.monotonic() - started
            peak, rss = status_kb(service.pid, "VmHWM"), status_kb(service.pid, "VmRSS")
            running = db_bytes(folder) - before_db
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(60)
            broker.kill()  # mosquitto may take longer than stop() waits to end on SIGTERM
        grown = db_bytes(folder) - before_db  # stopped: the WAL is folded into the file
        print(f"sent {sent} messages ({opts.big} of {opts.size} bytes, {opts.small} small) in "
              f"{published:.1f} s; taken by the service after {took:.1f} s")  # fmt: skip
        print(f"service RSS: {before_rss / 1024:.0f} MB before, peak {peak / 1024:.0f} MB, "
              f"{rss / 1024:.0f} MB at the end")  # fmt: skip
        print(f"database: {before_db / 1e6:.1f} MB before, grew by {grown / 1e6:.1f} MB "
              f"({running / 1e6:.1f} MB with its WAL while running)")  # fmt: skip
        print(f"  {quarantine_bytes(folder / 'ipfm.db')}")
        for name in COUNTERS:
            print(f"  {name} {seen.get(name, 0):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
