"""TLS (``mqtts://`` with a CA file) and username/password against private mosquitto brokers."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.errors import BrokerUnavailable
from ipfm_scheduler.transport.mqtt import MqttTransport
from tests import brokers
from tests.brokers import PrivateBroker
from tests.conftest import need_service

pytestmark = pytest.mark.mqtt
WAIT = 10.0


def make_certificates(folder: Path) -> dict[str, Path]:
    need_service(shutil.which("openssl") is not None, "openssl")
    return brokers.make_certificates(folder)


def test_mqtts_with_the_stations_ca_file_connects_and_publishes(tmp_path: Path) -> None:
    """... through the TLS socket paho makes (transport/buffered.py wraps only plain TCP)."""
    files = make_certificates(tmp_path)
    broker = PrivateBroker(
        tmp_path,
        extra="\n".join(
            f"{k}file {files[n]}"
            for k, n in (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"))
        ),
    )
    broker.start()
    settings = MqttSettings(
        url=f"mqtts://127.0.0.1:{broker.port}", host="127.0.0.1", port=broker.port, tls=True,
        ca_file=files["ca.crt"],
    )  # fmt: skip
    transport = MqttTransport(settings)
    try:
        transport.connect(WAIT)
        assert isinstance(transport._client.socket(), ssl.SSLSocket)
        transport.publish("ipfm/w/r/cmd", b"x", token="tls")
        assert transport.delivered.get(timeout=WAIT).token == "tls"
    finally:
        transport.close(1)
        broker.stop()


@pytest.mark.parametrize(("password", "works"), [("right", True), ("wrong", False)])
def test_username_and_password(tmp_path: Path, password: str, works: bool) -> None:
    need_service(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd")
    passwords = tmp_path / "passwd"
    brokers.run("mosquitto_passwd", "-b", "-c", str(passwords), "ipfm", "right")
    broker = PrivateBroker(tmp_path, extra=f"password_file {passwords}", anonymous=False)
    broker.start()
    settings = MqttSettings(host="127.0.0.1", port=broker.port, username="ipfm", password=password)
    transport = MqttTransport(settings, reconnect_min_s=0.2, reconnect_max_s=0.5)
    try:
        if works:
            transport.connect(WAIT)
            assert transport.connected
        else:
            with pytest.raises(BrokerUnavailable, match="refused the connection: Not authorized"):
                transport.connect(2.0)
    finally:
        transport.close(1)
        broker.stop()


def test_a_missing_ca_file_is_a_plain_broker_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.crt"
    settings = MqttSettings(host="127.0.0.1", port=8883, tls=True, ca_file=missing)
    with pytest.raises(BrokerUnavailable, match=f"with the CA file {missing}"):
        MqttTransport(settings)
