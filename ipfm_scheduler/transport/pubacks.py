"""paho hands each MQTT 3.1.1 PUBACK to ``on_publish`` without decoding it through its general
packet code.

For every PUBACK, paho-mqtt makes a new ``ReasonCode`` and a new ``Properties`` object, both
empty under MQTT 3.1.1, where a PUBACK is two bytes: the message id; 2.2 also decodes it through
``_packet.decode_puback`` (a wrapper that converts exceptions, a ``struct.unpack``, a named
tuple). At 100,000 commands a slot that was ~5 % of the service's CPU (issue 15,
docs/service.md). Checked with paho-mqtt 2.1.0 and 2.2.0 (``tests/transport/test_pubacks.py``).

:func:`fast_pubacks` gives paho's client a ``_handle_pubackcomp`` that reads those two bytes
itself and then does what paho does with them (``_do_on_publish``, under the same lock, only for
a message id paho still holds), handing ``on_publish`` one ``ReasonCode`` (success) and one empty
``Properties`` made once: the values paho makes for every MQTT 3.1.1 PUBACK. Anything else (a
PUBCOMP, a packet of another size, MQTT 5) goes to paho's own handler, whose checks and errors
stand. The transport's ``on_publish`` reads only the message id.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

_NEEDED = ("_handle_pubackcomp", "_do_on_publish", "_out_message_mutex", "_out_messages")


def fast_pubacks(client: Any, paho: ModuleType) -> bool:
    """Give paho's ``client`` the PUBACK handler above. ``paho`` is the module
    ``paho.mqtt.client``, handed over by ``transport/mqtt.py`` (the one module that imports
    paho: STYLE.md). False (nothing changed) when the client speaks MQTT 5 or this paho lacks
    what the handler uses: paho's own handler then runs."""
    if client._protocol not in (paho.MQTTv31, paho.MQTTv311) or not all(
        hasattr(client, name) for name in _NEEDED
    ):
        return False
    paho_handler: Callable[[str], Any] = client._handle_pubackcomp
    success = paho.ReasonCode(paho.PacketTypes.PUBACK)
    empty = paho.Properties(paho.PacketTypes.PUBACK)
    done = paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def handle_pubackcomp(cmd: str) -> Any:
        packet = client._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:
            return paho_handler(cmd)
        mid = (packet[0] << 8) | packet[1]
        with client._out_message_mutex:
            if mid in client._out_messages:  # paho informs the client once
                return client._do_on_publish(mid, success, empty)
        return done

    client._handle_pubackcomp = handle_pubackcomp
    return True
