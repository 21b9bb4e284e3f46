"""What the MQTT transport tells a technician (:mod:`ipfm_scheduler.transport.mqtt`): its
errors, in the language spoken. Its ``last_error`` (for ``/healthz``, machine-readable) stays
English and is built in the transport itself."""

from __future__ import annotations

import socket

from ipfm_scheduler.i18n import _


def paho_refused(topic: str, why: object) -> str:
    return _("{topic}: paho refused the message ({why}); not sent").format(topic=topic, why=why)


def not_connected(topic: str, address: str, *, closed: bool) -> str:
    if closed:
        return _("{topic}: closed; not sent").format(topic=topic)
    return _("{topic}: not connected to the MQTT broker at {address}; not sent").format(
        topic=topic, address=address
    )


def not_accepted(address: str, timeout: float, refusal: str | None, host: str, port: int) -> str:
    """Why no connection came within ``timeout``: the broker's refusal, else what a plain TCP
    connection to it says."""
    if refusal is not None:
        why = _("the broker refused the connection: {reason}").format(reason=refusal)
    else:
        why = probe(host, port)
    return _(
        "the MQTT broker at {address} did not accept a connection within {timeout} s: {why}"
    ).format(address=address, timeout=f"{timeout:g}", why=why)


def probe(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as exc:
        return _("{why} (is mosquitto running? is mqtt.url right?)").format(why=exc.strerror or exc)
    return _("the port answers but the MQTT handshake did not finish (TLS or credentials?)")
