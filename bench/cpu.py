"""CPU use of processes over a stretch of a benchmark, from /proc (Linux).

    with CpuWindow({"service": os.getpid(), "simulator": pid}) as cpu:
        ...
    print(cpu.describe())  # "machine 1.94 of 2 cores busy; service 0.94, ..., anything else 0.02"

Shows whether a rate is bounded by the machine (every core busy) or by one process.
"""

from __future__ import annotations

import os
import time
from types import TracebackType

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None if it can't be read)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _HZ


def _machine_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, over all cores."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / _HZ, sum(values) / _HZ


class CpuWindow:
    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self._start: dict[str, float | None] = {}
        self._machine: tuple[float, float] | None = None
        self._began = 0.0
        self.used: dict[str, float] = {}  # name -> cores used on average
        self.seconds: dict[str, float] = {}  # name -> CPU seconds used in the window
        self.busy: float | None = None  # cores busy on average, whole machine
        self.cores: float | None = None

    def __enter__(self) -> CpuWindow:
        self._start = {name: _process_seconds(pid) for name, pid in self.processes.items()}
        self._machine = _machine_seconds()
        self._began = time.perf_counter()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        wall = max(time.perf_counter() - self._began, 1e-9)
        for name, pid in self.processes.items():
            before, after = self._start.get(name), _process_seconds(pid)
            if before is not None and after is not None:
                self.seconds[name] = after - before
                self.used[name] = (after - before) / wall
        machine = _machine_seconds()
        if self._machine is not None and machine is not None:
            self.busy = (machine[0] - self._machine[0]) / wall
            self.cores = (machine[1] - self._machine[1]) / wall

    def describe(self) -> str:
        parts = [f"{name} {cores:.2f}" for name, cores in self.used.items()]
        if self.busy is None or self.cores is None:
            return "cores used: " + ", ".join(parts)
        rest = max(0.0, self.busy - sum(self.used.values()))
        return (
            f"machine {self.busy:.2f} of {self.cores:.0f} cores busy; "
            + ", ".join(parts)
            + f", anything else {rest:.2f}"
        )
