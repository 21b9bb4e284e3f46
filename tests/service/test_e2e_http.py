"""The running service's HTTP side, as a technician and a receiver meet it: `curl /healthz`,
`/metrics` and the web pages against `ipfm-scheduler run`, a simulated receiver that downloads
`audio.url` from the service and checks its sha256 before playing, and /healthz turning 503
within seconds of the broker stopping (and 200 again when it is back), and `ipfm-scheduler
status` saying the same."""

from __future__ import annotations

import json
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.simulator import Behaviour, HttpFetch, Simulator, TimeMode
from ipfm_scheduler.storage import tables as t
from tests.brokers import PrivateBroker
from tests.service.e2e import signing_of, wait_for, write_station
from tests.service.test_e2e_process import VN, Service, cli, count, soon, upgraded

pytestmark = pytest.mark.mqtt

PREFIX = "ipfm-http"
BROKER_GONE_S = 10.0  # "within seconds of the broker stopping"


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def this_week() -> str:
    """The ISO week the service runs in (the station's zone)."""
    from datetime import UTC, datetime

    from ipfm_scheduler.core.weeks import IsoWeek

    return str(IsoWeek.containing(datetime.now(UTC), VN))


def health(base: str) -> tuple[int, dict[str, Any]]:
    status, body = get(f"{base}/healthz")
    return status, (json.loads(body) if body else {})


def test_healthz_metrics_and_audio_downloads_against_the_running_service(
    tmp_path: Path, private_broker: PrivateBroker, jingle: tuple[Path, str]
) -> None:
    station = write_station(
        tmp_path, prefix=PREFIX, mqtt_port=private_broker.port, at=soon(), audio=jingle
    )
    listen = re.search(r"listen: (\S+)", station.read_text(encoding="utf-8"))
    assert listen is not None
    base = f"http://{listen.group(1)}"
    upgraded(station)
    receivers = [("ward-00", f"loa-{i:02d}") for i in (1, 2, 3)]
    fetch = HttpFetch(timeout_s=10)
    simulator = Simulator(
        MqttSettings(port=private_broker.port, topic_prefix=PREFIX, client_id="sim-http"),
        receivers,
        Behaviour(mode=TimeMode.INSTANT, tz=VN, fetch=fetch, **signing_of(station)),
    )
    simulator.start(10)
    service = Service(station, None, tmp_path / "run.log")
    db = tmp_path / "ipfm.db"
    try:
        wait_for(lambda: health(base)[0] == 200, 30, "/healthz to answer 200")
        status, body = health(base)
        assert body["ok"] is True
        assert set(body["checks"]) == {"scheduler", "broker", "database"}
        shown = cli(station, "status")  # what a technician types: it asks /healthz too
        assert shown.returncode == 0, shown.stderr
        assert f"  health: good (scheduler, broker, database: {base}/healthz)" in shown.stdout

        # the receivers download the recording from the service, check it, and play it
        completed = t.commands.c.state == "completed"
        wait_for(lambda: count(db, t.commands, completed) == 3, 30, "3 completed commands")
        assert count(db, t.commands) == 3  # nothing was rejected for a bad checksum
        assert fetch._good == {jingle[1].removesuffix(".mp3")}  # the file is named by its sha256

        status, text = get(f"{base}/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        sent = [s for s in families["ipfm_commands_sent"].samples if s.name.endswith("_total")]
        assert sum(s.value for s in sent if s.labels["ward"] == "ward-00") == 3
        acks = families["ipfm_acks"].samples
        assert any(
            s.labels == {"ward": "ward-00", "status": "completed"} and s.value == 3 for s in acks
        )

        # the web pages of the running service (issue 16): the week, a ward, the report
        status, page = get(f"{base}/")
        assert status == 200
        assert b'href="/wards/ward-00"' in page
        assert b"loa-03" in page
        assert get(f"{base}/wards/ward-00")[0] == 200
        assert get(f"{base}/weeks/{this_week()}.csv")[0] == 200

        private_broker.stop()  # the broker goes away
        wait_for(lambda: health(base)[0] == 503, BROKER_GONE_S, "/healthz to turn 503")
        status, body = health(base)
        assert body["checks"]["broker"]["ok"] is False
        assert body["checks"]["database"]["ok"] is True
        assert service.process.poll() is None  # the service itself keeps running
        address = f"127.0.0.1:{private_broker.port}"
        wait_for(
            lambda: "can't connect" in health(base)[1]["checks"]["broker"]["reason"],
            BROKER_GONE_S,
            "/healthz to say why the broker is not connected",
        )
        shown = cli(station, "status")
        assert shown.returncode == 0, shown.stderr
        assert (
            "  health: PROBLEM: broker: not connected: reconnecting (can't connect to the MQTT "
            f"broker at {address}) ({base}/healthz)"
        ) in shown.stdout
        hearsay = "(as last heard: the service is not connected to the broker now)"
        assert f"0 never heard from {hearsay}" in shown.stdout

        private_broker.start()  # back on the same port
        wait_for(lambda: health(base)[0] == 200, 30, "/healthz to be 200 again")
        assert service.stop(signal.SIGTERM) == 0
    finally:
        service.stop(signal.SIGKILL)
        simulator.stop()
    assert "Traceback" not in service.text()
