"""Health checks behind ``GET /healthz``: the caller names them and says how to run them.

Each check is a callable returning :class:`Health` (or a bool). It runs on its own daemon
thread with a time limit: a check that hangs (a database that does not answer) counts as
failing after ``timeout_s`` and is not started again until it returns, so a stuck check never
stacks up threads or blocks the answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Health:
    """One part's state, and why (in words a technician understands)."""

    ok: bool
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "reason": self.reason}


Check = Callable[[], "Health | bool"]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HealthChecks:
    """Runs named checks concurrently, each within ``timeout_s``."""

    def __init__(self, checks: Mapping[str, Check], *, timeout_s: float = 2.0) -> None:
        self._checks = dict(checks)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._running: dict[str, tuple[Future[Health], float]] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def _start(self, name: str) -> tuple[Future[Health], float]:
        with self._lock:
            running = self._running.get(name)
            if running is not None and not running[0].done():
                return running
            future: Future[Health] = Future()
            check = self._checks[name]

            def work() -> None:
                try:
                    answer = check()
                    if not isinstance(answer, Health):
                        answer = Health(bool(answer), "ok" if answer else "failing")
                    future.set_result(answer)
                except BaseException as exc:  # a failing check is an answer, not a crash
                    future.set_exception(exc)

            self._running[name] = (future, time.monotonic())
            threading.Thread(target=work, name=f"healthz-{name}", daemon=True).start()
            return self._running[name]

    def run(self) -> dict[str, Health]:
        """Every check's answer, in the order they were given."""
        started = {name: self._start(name) for name in self._checks}
        deadline = time.monotonic() + self.timeout_s
        return {
            name: self._answer(future, since, deadline) for name, (future, since) in started.items()
        }

    def _answer(self, future: Future[Health], since: float, deadline: float) -> Health:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            waited = time.monotonic() - since
            return Health(False, f"no answer after {waited:.1f} s")
        except Exception as exc:
            return Health(False, _one_line(exc))
