"""A private 3-node NATS JetStream cluster with MQTT on every node, for the tests of a clustered
broker: config/nats/node{1,2,3}.conf (what scripts/nats-cluster.sh starts), with free ports in
place of the fixed ones and the stores in the test's folder. Each node is a process of ours: a
test may SIGKILL one, and start it again (it rejoins with its store).

Ready means: every node is routed to the others and accepts an MQTT connection, and at the first
start answers its monitoring /healthz (JetStream current); polled with a timeout (the first MQTT
connection creates the MQTT streams). Not /healthz for a restarted node: with nats-server 2.9.10
it keeps failing there ("JetStream consumer '$G > $MQTT_rmsgs > ...' is not current", the
retained messages' consumer the node had before it was killed) while the node serves MQTT.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.brokers import free_ports

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "config" / "nats"
NODES = (1, 2, 3)
#: the fixed ports of config/nats/nodeN.conf: client, route, monitoring, MQTT
FIXED = {n: (14221 + n, 16221 + n, 18221 + n, 11882 + n) for n in NODES}


def binary() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


class NatsCluster:
    """Three nats-server processes on loopback, MQTT on ``mqtt_port(n)``."""

    def __init__(self, workdir: Path, *, replicas: int = 3) -> None:
        """``replicas``: the MQTT streams' (``stream_replicas``; 3 in config/nats)."""
        self.workdir = workdir
        self.replicas = replicas
        ports = iter(free_ports(4 * len(NODES)))  # twelve, none twice
        self.ports = {n: tuple(next(ports) for _ in range(4)) for n in NODES}
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def mqtt_port(self, node: int) -> int:
        return self.ports[node][3]

    def url(self, node: int) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port(node)}"

    def _conf(self, node: int) -> Path:
        text = (CONF_DIR / f"node{node}.conf").read_text()
        for n in NODES:
            for fixed, mine in zip(FIXED[n], self.ports[n], strict=True):
                text = text.replace(f"127.0.0.1:{fixed}", f"127.0.0.1:{mine}")
        text = text.replace("stream_replicas: 3", f"stream_replicas: {self.replicas}")
        path = self.workdir / f"node{node}.conf"
        path.write_text(text)
        return path

    def start(self, timeout: float = 60.0) -> None:
        try:
            for node in NODES:
                self.start_node(node, wait=False)
            self.wait_ready(NODES, timeout, health=True)
        except BaseException:
            self.stop()  # no node left running behind a failed start
            raise

    def start_node(self, node: int, *, wait: bool = True, timeout: float = 30.0) -> None:
        exe = binary()
        assert exe is not None, "nats-server is not installed (scripts/bootstrap.sh installs it)"
        store = self.workdir / f"n{node}"
        store.mkdir(exist_ok=True)
        env = {**os.environ, f"IPFM_NATS_STORE_N{node}": str(store)}
        log = self.workdir / f"n{node}.log"
        self.processes[node] = subprocess.Popen(
            [exe, "-c", str(self._conf(node)), "-l", str(log)], env=env
        )
        if wait:
            try:
                self.wait_ready((node,), timeout)
            except BaseException:
                self.stop()
                raise

    def kill(self, node: int) -> None:
        """SIGKILL: the node ends at once, its clients' connections drop."""
        process = self.processes.pop(node)
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for node in list(self.processes):
            process = self.processes.pop(node)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    # ---- readiness ---------------------------------------------------------------------------

    def _monitor(self, node: int, path: str) -> dict[str, object] | None:
        url = f"http://127.0.0.1:{self.ports[node][2]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                answer: dict[str, object] = json.loads(response.read(100_000))
                return answer
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def healthy(self, node: int) -> bool:
        answer = self._monitor(node, "/healthz")
        return answer is not None and answer.get("status") == "ok"

    def routes(self, node: int) -> int:
        answer = self._monitor(node, "/routez")
        return int(answer.get("num_routes", 0)) if answer else 0  # type: ignore[call-overload]

    def mqtt_accepts(self, node: int, timeout: float = 5.0) -> bool:
        connected = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{node}-{time.time()}")
        client.on_connect = lambda _c, _u, _f, reason, _p: (
            None if reason.is_failure else connected.set()
        )
        try:
            client.connect("127.0.0.1", self.mqtt_port(node), keepalive=10)
        except OSError:
            return False
        client.loop_start()
        try:
            return connected.wait(timeout)
        finally:
            client.disconnect()
            client.loop_stop()

    def lagging(self) -> list[str]:
        """The JetStream streams and consumers (the MQTT sessions' too) that some running node
        says have a replica not current, as "stream" or "stream > consumer"."""
        found: set[str] = set()
        path = "/jsz?accounts=true&streams=true&consumers=true"
        for node in list(self.processes):
            answer = self._monitor(node, path)
            if answer is None:
                found.add(f"node {node} does not answer")
                continue
            for account in answer.get("account_details") or []:  # type: ignore[attr-defined]
                for stream in account.get("stream_detail") or []:
                    assets = [(stream["name"], stream)] + [
                        (f"{stream['name']} > {c['name']}", c)
                        for c in stream.get("consumer_detail") or []
                    ]
                    for name, asset in assets:
                        replicas = (asset.get("cluster") or {}).get("replicas") or []
                        if any(not r.get("current") or r.get("offline") for r in replicas):
                            found.add(name)
        return sorted(found)

    def wait_current(self, timeout: float = 60.0) -> None:
        """Poll until no running node reports a replica not current: a node restarted has
        caught up, and another may be lost (a consumer whose replicas were on a node killed and
        on one not caught up had no quorum, and stalled for good)."""
        deadline = time.monotonic() + timeout
        gate = threading.Event()
        while lagging := self.lagging():
            if time.monotonic() > deadline:
                raise RuntimeError(f"NATS replicas not current after {timeout} s: {lagging[:5]}")
            gate.wait(0.5)

    def wait_ready(
        self, nodes: tuple[int, ...], timeout: float = 30.0, *, health: bool = False
    ) -> None:
        """Poll (every 0.1 s, at most ``timeout``) until each node is routed to the others still
        running and accepts MQTT (and with ``health``, answers /healthz ok)."""
        deadline = time.monotonic() + timeout
        gate = threading.Event()
        others = len(self.processes) - 1
        for node in nodes:
            while not (
                (self.healthy(node) or not health)
                and self.routes(node) >= others
                and self.mqtt_accepts(node)
            ):
                if time.monotonic() > deadline or self.processes[node].poll() is not None:
                    log = (self.workdir / f"n{node}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"NATS node {node} not ready in {timeout} s:\n{log}")
                gate.wait(0.1)
