"""Debian's chromium, headless, driven directly: ``--dump-dom``, ``--screenshot``,
``--print-to-pdf``, and, for what only layout knows (does the page fit a phone's width?), the
DevTools protocol over ``--remote-debugging-pipe`` (no Selenium, no Playwright)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need_service

TIMEOUT_S = 30.0
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-extensions", "--mute-audio")  # fmt: skip


def chromium_path() -> str:
    path = shutil.which("chromium")
    need_service(path is not None, "chromium (apt-get install chromium)")
    assert path is not None
    return path


def run(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """One headless chromium run (its own profile folder: runs never share state)."""
    command = [chromium_path(), *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


def dump_dom(profile: Path, url: str) -> str:
    return run(profile, "--dump-dom", url).stdout.decode()


def screenshot(profile: Path, url: str, out: Path, width: int, height: int) -> Path:
    run(profile, f"--window-size={width},{height}", f"--screenshot={out}", url)
    return out


def print_to_pdf(profile: Path, url: str, out: Path) -> bytes:
    run(profile, "--no-pdf-header-footer", f"--print-to-pdf={out}", url)
    return out.read_bytes()


class DevTools:
    """The DevTools protocol over a pipe (fd 3 in, fd 4 out of chromium), one page target."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._write = os.pipe()
        self._read, from_browser_w = os.pipe()

        def plumb() -> None:  # in the child: the protocol's descriptors are 3 and 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        command = [chromium_path(), *FLAGS, f"--user-data-dir={profile}",
                   "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        # close_fds=False: fds 3 and 4 must stay open; preexec_fn only calls dup2
        # (async-signal-safe), so the threads of this process do no harm
        self.process = subprocess.Popen(
            command, close_fds=False, preexec_fn=plumb,  # noqa: PLW1509
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        os.close(self._write)
        os.close(self._read)

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._write, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._read], [], [], max(0.0, left))
            if not ready:
                pytest.fail("chromium did not answer in time")
            chunk = os.read(self._read, 65536)
            if not chunk:
                pytest.fail("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        found: dict[str, Any] = json.loads(message)
        return found

    def call(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._id:
                assert "error" not in answer, answer
                result: dict[str, Any] = answer.get("result", {})
                return result
            self._events.append(answer)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for event in self._events:
                if event.get("method") == method:
                    self._events.remove(event)
                    return event
            self._events.append(self._receive(deadline))

    def open_as_phone(self, url: str, width: int = 375, height: int = 812) -> None:
        s = self.session
        self.call("Emulation.setDeviceMetricsOverride", session=s, width=width, height=height,
                  deviceScaleFactor=2, mobile=True)  # fmt: skip
        self.call("Page.enable", session=s)
        self.call("Page.navigate", session=s, url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        found = self.call("Runtime.evaluate", session=self.session, expression=expression,
                          returnByValue=True)  # fmt: skip
        return found["result"].get("value")
