"""`ipfm-scheduler simulate` as a technician runs it: a process that answers commands until
SIGTERM, logs one line per command, and exits with the documented codes."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import IO

import pytest

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.protocol import (
    cmd_topic,
    encode_command,
    parse_ack,
    parse_status,
    scheduler_filters,
)
from ipfm_scheduler.transport.mqtt import MqttTransport
from tests.brokers import free_port
from tests.simulator.test_simulator import TZ, WAIT, play

COMMAND = [str(Path(sys.executable).with_name("ipfm-scheduler"))]
ROOT = Path(__file__).resolve().parents[2]


EOF = "\0end of stream"  # put by lines_of once the stream is closed


def lines_of(stream: IO[str]) -> queue.SimpleQueue[str]:
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(EOF)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for(lines: queue.SimpleQueue[str], text: str) -> str:
    while True:
        line = lines.get(timeout=WAIT)
        if text in line:
            return line


@pytest.mark.mqtt
@pytest.mark.parametrize("quiet", [False, True], ids=["logging", "quiet"])
def test_simulate_answers_commands_until_sigterm(
    mqtt_broker: tuple[str, int], clean_prefix: str, quiet: bool
) -> None:
    """The receivers answer and say offline at SIGTERM; the log has a line per command, except
    with --quiet."""
    host, port = mqtt_broker
    scheduler = MqttTransport(MqttSettings(host=host, port=port), scheduler_filters(clean_prefix))
    scheduler.connect(WAIT)
    process = subprocess.Popen(
        [*COMMAND, "simulate", *(["--quiet"] if quiet else []),
         "--receivers", "cam-trung/loa-01,cam-trung/loa-02",
         "--offline", "cam-trung/loa-02", "--time-mode", "instant", "--prefix", clean_prefix,
         "--mqtt-url", f"mqtt://{host}:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        out, err = lines_of(process.stdout), lines_of(process.stderr)
        started = wait_for(out, "simulating")
        assert started == (
            f"simulating 1 receiver (1 offline) on {host}:{port} "
            f"under {clean_prefix}/ (Ctrl-C stops)"
        )
        assert parse_status(scheduler.incoming.get(timeout=WAIT).payload).online  # loa-01
        switched_off = scheduler.incoming.get(timeout=WAIT)  # --offline: says so, retained
        assert switched_off.topic == f"{clean_prefix}/cam-trung/loa-02/status"
        assert not parse_status(switched_off.payload).online
        now = datetime.now(TZ)
        scheduler.publish(
            cmd_topic(clean_prefix, "cam-trung", "loa-01"), encode_command(play("c-cli", now), TZ)
        )
        acks = [
            parse_ack(scheduler.incoming.get(timeout=WAIT).payload).status.value for _ in range(3)
        ]
        assert acks == ["received", "playing", "completed"]
        if not quiet:
            logged = wait_for(err, "cam-trung/loa-01")
            assert logged.endswith(
                "cam-trung/loa-01: play c-cli: received, playing, completed [kh179 normal]"
            )
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT) == 0
        assert wait_for(out, "stopped") == "stopped after 1 command; the receivers said offline"
        assert not parse_status(scheduler.incoming.get(timeout=WAIT).payload).online
        if quiet:  # the process ended: its log is all there
            rest = list(iter(lambda: err.get(timeout=WAIT), EOF))
            assert not [line for line in rest if "c-cli" in line]
    finally:
        if process.poll() is None:
            process.kill()
        scheduler.close(1)


@pytest.mark.mqtt
@pytest.mark.parametrize(
    "leave", [(), ("cam-trung/loa-01,cam-trung/loa-02",)], ids=["all", "leave"]
)
def test_simulate_without_receivers_plays_the_configuration(
    mqtt_broker: tuple[str, int], clean_prefix: str, leave: tuple[str, ...]
) -> None:
    """Without --receivers it plays every enabled receiver of the station's valid wards, but
    those --leave leaves to real boxes (ipfm-receiver)."""
    from datetime import date

    from ipfm_scheduler.config.loader import load

    station = ROOT / "config" / "ipfm.yaml"
    loaded = load(station, today=date.today(), secrets=False)
    assert loaded.schedule is not None
    enabled = sum(len(w.enabled_receivers) for w in loaded.schedule.wards.values())
    enabled -= 2 if leave else 0
    host, port = mqtt_broker
    process = subprocess.Popen(
        [*COMMAND, "--config", str(station), "simulate", "--prefix", clean_prefix,
         "--mqtt-url", f"mqtt://{host}:{port}", *(f"--leave={pairs}" for pairs in leave)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        out = lines_of(process.stdout)
        assert wait_for(out, "simulating") == (
            f"simulating {enabled} receivers (0 offline) on {host}:{port} "
            f"under {clean_prefix}/ (Ctrl-C stops)"
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_simulate_without_receivers_or_station_is_a_config_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COMMAND, "--config", str(tmp_path / "missing.yaml"), "simulate"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3
    assert "missing.yaml" in result.stderr


def test_simulate_with_a_bad_receiver_id_names_it() -> None:
    result = subprocess.run(
        [*COMMAND, "simulate", "--receivers", "Cam-Trung/loa-01"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ward id 'Cam-Trung' is not a valid id" in result.stderr


def test_simulate_without_a_broker_exits_with_the_broker_code() -> None:
    port = free_port()
    result = subprocess.run(
        [*COMMAND, "simulate", "--receivers", "w/r", "--mqtt-url", f"mqtt://127.0.0.1:{port}",
         "--connect-timeout", "0.5"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 5
    assert result.stderr.strip().splitlines()[-1] == (
        f"ipfm-scheduler: the MQTT broker at 127.0.0.1:{port} did not accept a connection within "
        "0.5 s: Connection refused (is mosquitto running? is mqtt.url right?)"
    )


def test_simulate_refuses_an_offline_receiver_it_does_not_play() -> None:
    """A mistyped --offline would otherwise take nothing offline while the banner still said
    "(1 offline)": it is refused, naming it (before any broker is needed)."""
    port = free_port()
    result = subprocess.run(
        [*COMMAND, "simulate", "--receivers", "cam-trung/loa-01,cam-trung/loa-02",
         "--offline", "cam-trung/loa-20", "--mqtt-url", f"mqtt://127.0.0.1:{port}",
         "--connect-timeout", "0.5"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "cam-trung/loa-20 is not one of the receivers played" in result.stderr
