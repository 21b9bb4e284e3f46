"""The service's HTTP server under a crowd (issue 16, item 4): does ``/healthz`` still answer?

For each server, in the same run, on the same 5 MB recording:

* ``before``: the server of another checkout (``--tree DIR``, e.g. ``git archive 73f91a1
  ipfm_scheduler | tar -x -C DIR``: the one on ``http.server``, a thread per connection);
* ``service``: this tree's :class:`~ipfm_scheduler.service.http.server.HttpServer` (uvicorn,
  asyncio, h11; Starlette);
* ``service-fast``: the same on uvloop with httptools (if they are installed: no dependency of
  the project's);

each in its own process, the bench:

1. starts a probe (its own process) asking ``/healthz`` every 100 ms on a new connection, as a
   load balancer or systemd's watchdog script would, each with a 10 s time limit;
2. opens ``--slow`` (200) slow clients: half send a request's headers a few bytes at a time (one
   header line every 5 s, never the blank line: slowloris), half ask for the recording with a
   4 KB receive buffer and read 1 KB a second;
3. then starts ``--clients`` (1,000) downloads of the whole recording at once and waits for
   them (each checks the length it got);
4. prints /healthz's worst and p99 latency while the crowd was there, the downloads completed
   and the time the last one took, and the server's peak RSS (VmHWM) and peak thread count.

    python -m bench.http_load [--clients 1000] [--slow 200] [--size 5000000] [--tree DIR]
                              [--only service]

Target (issue 16): /healthz answers within 1 s throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEALTH_CHECKS = ("database", "broker")
KINDS = ("before", "service", "service-fast")


# --- the two servers, each run in its own process -----------------------------------------------


def _checks():  # type: ignore[no-untyped-def]
    from ipfm_scheduler.service.http.health import HealthChecks

    return HealthChecks({name: (lambda: True) for name in HEALTH_CHECKS})


def serve(folder: Path, sha: str, *, fast: bool = False) -> None:
    """The service's :class:`HttpServer` (the one on ``PYTHONPATH``), until SIGTERM; ``fast``:
    uvicorn on uvloop with httptools instead of asyncio with h11."""
    from ipfm_scheduler.service.http import server as http_server

    if fast:
        http_server.LOOP, http_server.PARSER = "uvloop", "httptools"
    server = http_server.HttpServer(
        "127.0.0.1", 0, audio={sha: folder / f"{sha}.mp3"}, health=_checks()
    )
    server.start()
    print(f"PORT {server.address[1]}", flush=True)
    signal.sigwait({signal.SIGTERM})
    server.stop()


# --- the crowd ----------------------------------------------------------------------------------


def probe(port: int, pid: int, stop: threading.Event | object, out: object) -> None:
    """/healthz every 100 ms (new connection, 10 s limit) and the server's threads and RSS."""
    latencies: list[float] = []
    failures = 0
    threads = 0
    while not stop.is_set():  # type: ignore[attr-defined]
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            if not answer.startswith(b"HTTP/1.1 200"):
                failures += 1
        except OSError:
            failures += 1
        latencies.append(time.monotonic() - started)
        threads = max(threads, _status(pid).get("Threads", 0))
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
    status = _status(pid)
    out.put(  # type: ignore[attr-defined]
        {
            "latencies": latencies,
            "failures": failures,
            "threads": threads,
            "hwm_kb": status.get("VmHWM", 0),
        }
    )


def _status(pid: int) -> dict[str, int]:
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _sep, value = line.partition(":")
            if key in ("Threads", "VmHWM", "VmRSS"):
                found[key] = int(value.split()[0])
    return found


class _Download(asyncio.BufferedProtocol):
    def __init__(self, done: asyncio.Future[int]) -> None:
        self.buffer = bytearray(256 * 1024)
        self.head = b""
        self.body = 0
        self.length = -1
        self.done = done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        if self.length < 0:
            self.head += bytes(self.buffer[:nbytes])
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.head[:end].decode("latin-1").lower().split("\r\n")
            self.length = next(
                int(v.split(":")[1]) for v in lines if v.startswith("content-length")
            )
            self.body = len(self.head) - end - 4
        else:
            self.body += nbytes
        if self.body >= self.length and not self.done.done():
            self.done.set_result(self.body)
            self.transport.close()  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(-1)


async def download(port: int, sha: str, size: int) -> bool:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    try:
        transport, _proto = await loop.create_connection(lambda: _Download(done), "127.0.0.1", port)
        request = f"GET /audio/{sha}.mp3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        transport.write(request.encode())  # type: ignore[attr-defined]
        return await asyncio.wait_for(done, 600) == size
    except (OSError, TimeoutError):
        return False


async def slowloris(port: int, stop: asyncio.Event) -> None:
    with contextlib.suppress(OSError):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        n = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
            writer.write(f"X-a{n}: b\r\n".encode())
            await writer.drain()
            n += 1
        writer.close()


async def slow_reader(port: int, sha: str, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    with contextlib.suppress(OSError), sock:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, f"GET /audio/{sha}.mp3 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
            if not await loop.sock_recv(sock, 1024):
                return


async def crowd(port: int, sha: str, size: int, clients: int, slow: int) -> dict[str, object]:
    stop = asyncio.Event()
    holders = [
        asyncio.create_task(slowloris(port, stop) if i % 2 else slow_reader(port, sha, stop))
        for i in range(slow)
    ]
    await asyncio.sleep(1.0)
    started = time.monotonic()
    results = await asyncio.gather(*(download(port, sha, size) for _ in range(clients)))
    took = time.monotonic() - started
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*holders, return_exceptions=True)
    return {"completed": sum(results), "seconds": took}


# --- one run ------------------------------------------------------------------------------------


def run(
    kind: str, folder: Path, sha: str, size: int, clients: int, slow: int, tree: Path | None
) -> dict[str, object]:
    path = f"{tree}:{ROOT}" if kind == "before" else str(ROOT)
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, "-m", "bench.http_load", "--serve", kind, "--folder", str(folder)]
    errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(  # python -m puts its folder first: the tree's, for 'before'
        [*command, "--sha", sha],
        stdout=subprocess.PIPE,
        stderr=errors,
        env=env,
        text=True,
        cwd=tree if kind == "before" else ROOT,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        time.sleep(0.5)
        context = multiprocessing.get_context("fork")
        stop, out = context.Event(), context.Queue()
        prober = context.Process(target=probe, args=(port, server.pid, stop, out))
        prober.start()
        figures = asyncio.run(crowd(port, sha, size, clients, slow))
        stop.set()
        probed = out.get(timeout=60)
        prober.join(30)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    errors.seek(0)
    tracebacks = errors.read().count("Traceback")
    errors.close()
    latencies = sorted(probed["latencies"])
    return {
        "server": kind,
        "healthz_worst_s": round(latencies[-1], 3),
        "healthz_p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
        "healthz_probes": len(latencies),
        "healthz_failed": probed["failures"],
        "downloads_completed": figures["completed"],
        "downloads_seconds": round(float(figures["seconds"]), 1),  # type: ignore[arg-type]
        "peak_rss_mb": round(probed["hwm_kb"] / 1024, 1),
        "peak_threads": probed["threads"],
        "server_tracebacks": tracebacks,  # on its stderr (not through logging)
    }


def _fast_installed() -> bool:
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--size", type=int, default=5_000_000)
    parser.add_argument("--only", choices=KINDS)
    parser.add_argument("--tree", type=Path, help="a checkout whose server is 'before'")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sha", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.folder, args.sha, fast=args.serve == "service-fast")
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    with tempfile.TemporaryDirectory(prefix="ipfm-http-load-") as tmp:
        data = os.urandom(args.size)
        sha = hashlib.sha256(data).hexdigest()
        (Path(tmp) / f"{sha}.mp3").write_bytes(data)
        kinds = [args.only] if args.only else [k for k in KINDS if k != "before" or args.tree]
        if args.only is None and not _fast_installed():
            kinds.remove("service-fast")  # uvloop and httptools are no dependency of ours
        for kind in kinds:
            figures = run(kind, Path(tmp), sha, args.size, args.clients, args.slow, args.tree)
            print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
