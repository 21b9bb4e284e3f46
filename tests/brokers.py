"""Private mosquitto brokers for tests that must stop, pause or reconfigure a broker.

The shared broker at 127.0.0.1:1883 is used by everyone at once and is never stopped by a test;
a test that needs an outage starts its own broker on a free port and owns its process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipfm_scheduler.config.settings import MqttSettings

#: the broker settings the project recommends (config/mosquitto/ipfm.conf)
RECOMMENDED_CONF = Path(__file__).resolve().parent.parent / "config" / "mosquitto" / "ipfm.conf"


def settings_over(ports: Sequence[int], **fields: Any) -> MqttSettings:
    """The settings a station file listing brokers on these loopback ports in ``mqtt.url``
    gives: tried in this order. ``fields``: the other settings (topic prefix, client id)."""
    urls = tuple(f"mqtt://127.0.0.1:{port}" for port in ports)
    return MqttSettings(
        url=urls[0],
        host="127.0.0.1",
        port=ports[0],
        fallbacks=tuple(("127.0.0.1", port) for port in ports[1:]),
        urls=urls,
        **fields,
    )


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: all held at once while they are chosen (ports chosen one
    after the other, each let go at once, can repeat: a cluster's node then found another's
    HTTP port where it expected a route)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class PrivateBroker:
    """A mosquitto process of our own on 127.0.0.1:``port``; ``extra`` is added to its config.
    ``config``: the whole configuration instead (its own listener on ``port``), such as the one
    ``broker-config`` writes."""

    def __init__(
        self,
        workdir: Path,
        extra: str = "",
        port: int | None = None,
        anonymous: bool = True,
        config: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.anonymous = anonymous
        self.config = config
        self.process: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / f"mosquitto-{self.port}.conf"
        anonymous = "true" if self.anonymous else "false"
        # as root, mosquitto drops to the `mosquitto` user, who can't read the test's files
        user = "user root\n" if os.geteuid() == 0 else ""
        if self.config is not None:
            conf.write_text(user + self.config)
        else:
            conf.write_text(
                f"{user}listener {self.port} 127.0.0.1\n{self.extra}\nallow_anonymous {anonymous}\n"
            )
        running = threading.Event()
        self.process = subprocess.Popen(
            [binary, "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read(stream: object) -> None:
            for line in stream:  # type: ignore[attr-defined]
                self.log.append(line.rstrip())
                if " running" in line:
                    running.set()

        threading.Thread(target=read, args=(self.process.stdout,), daemon=True).start()
        if not running.wait(timeout):
            self.stop()
            raise RuntimeError(f"private mosquitto did not start: {self.log[-5:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """End the broker at once (SIGKILL), even while paused: it answers nothing more."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): it holds connections but answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with openssl
    (files ``ca.key``, ``ca.crt``, ``server.key``, ``server.csr``, ``server.crt``)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    files = {n: folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")}
    run("openssl", "req", "-x509", *ec, "-keyout", str(files["ca.key"]),
        "-out", str(files["ca.crt"]), "-days", "2", "-subj", "/CN=ipfm test CA")  # fmt: skip
    run("openssl", "req", *ec, "-keyout", str(files["server.key"]),
        "-out", str(files["server.csr"]), "-subj", "/CN=127.0.0.1")  # fmt: skip
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", str(files["server.csr"]), "-CA", str(files["ca.crt"]),
        "-CAkey", str(files["ca.key"]), "-CAcreateserial", "-out", str(files["server.crt"]),
        "-days", "2", "-extfile", str(ext))  # fmt: skip
    return files


def clear_retained(host: str, port: int, prefix: str, timeout: float = 10.0) -> list[str]:
    """Delete every retained message under ``prefix/`` (tests leave none behind on the shared,
    persistent broker). Returns the topics cleared."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    marker = f"{prefix}/_cleanup-marker"
    retained: list[str] = []
    done = threading.Event()
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2)

    def on_message(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.topic == marker:
            done.set()
        elif msg.retain and msg.payload:
            retained.append(msg.topic)

    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe(f"{prefix}/#", qos=1)
        if not subscribed.wait(timeout):
            raise RuntimeError("cleanup: no SUBACK")
        client.publish(marker, b"", qos=1)
        if not done.wait(timeout):
            raise RuntimeError("cleanup: marker never came back")
        infos = [client.publish(topic, b"", qos=1, retain=True) for topic in retained]
        for info in infos:
            info.wait_for_publish(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return retained
