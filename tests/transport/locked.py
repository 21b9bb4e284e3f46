"""A locked broker for tests: a station (one ward, three receivers), certificates made with
openssl, the files ``ipfm-scheduler broker-config`` writes for them, and a private mosquitto
running exactly that configuration (TLS on a free port of 127.0.0.1)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipfm_scheduler.cli import main
from ipfm_scheduler.config.settings import MqttSettings
from tests.brokers import PrivateBroker, free_port, make_certificates
from tests.conftest import need_service
from tests.service.e2e import write_station

WARD = "ward-00"


@dataclass
class Locked:
    station: Path
    out: Path  # the folder broker-config wrote
    certs: dict[str, Path]
    broker: PrivateBroker
    prefix: str
    advice: str  # what broker-config printed on stdout: the station file's mqtt section

    def password(self, user: str) -> str:
        return (self.out / "users" / f"{user}.password").read_text().strip()

    def settings(self, user: str | None, password: str | None = None) -> MqttSettings:
        """TLS to the private broker as ``user`` (with its own password unless given)."""
        if user is not None and password is None:
            password = self.password(user)
        port = self.broker.port
        return MqttSettings(
            url=f"mqtts://127.0.0.1:{port}", topic_prefix=self.prefix, host="127.0.0.1",
            port=port, tls=True, ca_file=self.certs["ca.crt"], username=user, password=password,
        )  # fmt: skip


def broker_config(
    capsys: pytest.CaptureFixture[str], station: Path, *args: str
) -> tuple[int, str, str]:
    """``ipfm-scheduler --config STATION broker-config ARGS``, as a user runs it."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["--config", str(station), "broker-config", *args])
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


def lock(tmp_path: Path, prefix: str, capsys: pytest.CaptureFixture[str]) -> Locked:
    """Write the station and the broker's files, and start the broker (the caller stops it)."""
    need_service(shutil.which("openssl") is not None, "openssl")
    need_service(
        shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists(),
        "the mosquitto binary",
    )
    station = write_station(tmp_path / "station", prefix=prefix, mqtt_port=1883, at="12:00")
    certs_dir = tmp_path / "certs"
    certs_dir.mkdir()
    certs = make_certificates(certs_dir)
    out, port = tmp_path / "broker", free_port()
    code, advice, err = broker_config(
        capsys, station, "-o", str(out), "--port", str(port), "--bind", "127.0.0.1",
        "--cafile", str(certs["ca.crt"]), "--certfile", str(certs["server.crt"]),
        "--keyfile", str(certs["server.key"]),
    )  # fmt: skip
    assert code == 0, err
    broker = PrivateBroker(tmp_path, port=port, config=(out / "mosquitto.conf").read_text())
    broker.start()
    return Locked(station, out, certs, broker, prefix, advice)
