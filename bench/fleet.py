"""A lean fleet of receivers for the benchmarks, in its own process: one MQTT connection for all
of them, answering every play command with a `received` ack at once, as docs/protocol.md has a
receiver do, and nothing else (no download, no playback, no status).

Each ack is signed with its receiver's own key (version 2) when the keys folder has one, as
`keys init` makes them; unsigned (version 1) otherwise. The command itself is only read for its
``id`` (a real receiver checks its signature: that cost is the receivers', not the dispatcher's).

    python -m bench.fleet --mqtt-url mqtt://127.0.0.1:PORT --prefix P [--keys DIR]

It prints ``ready`` once subscribed, then runs until SIGTERM or until its standard input closes,
and prints ``answered N`` when it stops. ``start_fleet`` runs it from a benchmark.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ipfm_scheduler.config import keyfiles
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.protocol import Ack, OwnKey, encode_ack

ROOT = Path(__file__).resolve().parent.parent
_ID_RE = re.compile(rb'"id":"([0-9A-Za-z-]{1,64})"')


def host_port(mqtt_url: str) -> tuple[str, int]:
    parts = urlsplit(mqtt_url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


def own_keys(keys_dir: Path | None) -> dict[tuple[str, str], OwnKey]:
    """(ward, receiver) -> its current own key, from a keys folder as `keys init` makes it."""
    if keys_dir is None:
        return {}
    _commands, receivers = keyfiles.read_keys_dir(keys_dir)
    return {
        pair: OwnKey(pair[0], pair[1], keys.current)
        for pair, keys in receivers.items()
        if keys.current is not None
    }


class Fleet:
    def __init__(self, mqtt_url: str, prefix: str, keys: dict[tuple[str, str], OwnKey]) -> None:
        self.prefix = prefix
        self.keys = keys
        self.answered = 0
        self.subscribed = threading.Event()
        host, port = host_port(mqtt_url)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-{uuid.uuid4().hex[:8]}")
        client.on_connect = lambda c, *_a: c.subscribe(f"{prefix}/+/+/cmd", qos=1)
        client.on_subscribe = lambda *_a: self.subscribed.set()
        client.on_message = self._answer
        # each real receiver has its own connection: one ack in flight each, none waiting
        client.max_inflight_messages_set(0)
        client.connect(host, port, keepalive=60)
        self.client = client

    def _answer(self, client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        parts = message.topic.split("/")
        ward, receiver = parts[-3], parts[-2]
        found = _ID_RE.search(message.payload)  # canonical JSON: `"id":"..."` once, top level
        if found is None:
            return  # not a command of the protocol: a receiver would reject it; not ours here
        payload = self._ack(ward, receiver, found.group(1).decode())
        client.publish(f"{self.prefix}/{ward}/{receiver}/ack", payload, qos=1)
        self.answered += 1

    def _ack(self, ward: str, receiver: str, command_id: str) -> bytes:
        """The `received` ack, the bytes ``encode_ack`` gives (checked once, at start), built
        without its dataclasses: the receivers' cost is not what the benchmarks measure."""
        at = datetime.now(UTC).isoformat(timespec="seconds")
        own = self.keys.get((ward, receiver))
        if own is None:
            return (f'{{"at":"{at}","id":"{command_id}","status":"received","v":1}}').encode()
        body = (
            f'{{"at":"{at}","id":"{command_id}","receiver":"{receiver}",'
            f'"status":"received","v":2,"ward":"{ward}"}}'
        ).encode()
        mac = hmac.new(own.key.secret, body, hashlib.sha256).hexdigest()
        sig = f'"sig":{{"alg":"HMAC-SHA256","kid":"{own.key.kid}","mac":"{mac}"}},'.encode()
        cut = body.index(b'"status"')
        return body[:cut] + sig + body[cut:]

    def check(self) -> None:
        """The hand-built ack is ``encode_ack``'s, byte for byte (else: stop, say so)."""
        for (ward, receiver), own in list(self.keys.items())[:1] or [(("w", "r"), None)]:
            mine = self._ack(ward, receiver, "00000000-0000-4000-8000-000000000000")
            at = datetime.fromisoformat(json.loads(mine)["at"])
            ack = Ack("00000000-0000-4000-8000-000000000000", AckStatus.RECEIVED, at)
            if mine != encode_ack(ack, own=own):
                raise SystemExit(f"the fleet's ack differs from encode_ack's: {mine!r}")


def start_fleet(
    mqtt_url: str, prefix: str, keys_dir: Path | None = None, timeout: float = 120.0
) -> subprocess.Popen[str]:
    """The fleet in its own process; returns once it is subscribed. Stop it with
    ``stop_fleet`` (it prints how many commands it answered)."""
    args = [sys.executable, "-m", "bench.fleet", "--mqtt-url", mqtt_url, "--prefix", prefix]
    if keys_dir is not None:
        args += ["--keys", str(keys_dir)]
    process = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert process.stdout is not None
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        line = process.stdout.readline()
    finally:
        timer.cancel()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"the fleet did not start: {line!r}")
    return process


def stop_fleet(process: subprocess.Popen[str]) -> int:
    """Stop the fleet; returns how many commands it answered (-1 if it did not say)."""
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.close()
    try:
        out = process.stdout.read()
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return -1
    for line in out.splitlines():
        if line.startswith("answered "):
            return int(line.split()[1])
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--keys", type=Path, default=None)
    args = parser.parse_args()
    fleet = Fleet(args.mqtt_url, args.prefix, own_keys(args.keys))
    fleet.check()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    fleet.client.loop_start()
    if not fleet.subscribed.wait(30):
        raise SystemExit("the fleet could not subscribe")
    print("ready", flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    fleet.client.disconnect()
    fleet.client.loop_stop()
    print(f"answered {fleet.answered}", flush=True)


if __name__ == "__main__":
    main()
