"""The service's garbage collector (``service.systemd.collect_less``, issue 15): it runs far
less often than at Python's default while objects pile up, and a reference cycle is still
collected."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from ipfm_scheduler.cli import cli
from ipfm_scheduler.service import systemd


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)


def young_collections(kept: int) -> int:
    """How many collections of the young generation making ``kept`` dicts (kept alive) sets off."""
    counted = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            counted.append(1)

    gc.collect()
    gc.callbacks.append(count)
    try:
        alive = [{"n": n} for n in range(kept)]
    finally:
        gc.callbacks.remove(count)
    assert len(alive) == kept
    return len(counted)


def test_the_collector_runs_far_less_often(thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)  # Python's default, whatever the test process had
    default = young_collections(7_000)
    systemd.collect_less()
    assert gc.get_threshold() == systemd.GC_THRESHOLDS
    fewer = young_collections(7_000)
    assert default >= 9  # one per 700 new objects
    assert fewer == 0


def test_a_cycle_is_still_collected(thresholds: None) -> None:
    class Node:
        other: object

    systemd.collect_less()
    gc.collect()
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: reference counting alone never frees it
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None
    alive = [{"n": n} for n in range(systemd.GC_THRESHOLDS[0] + 100)]
    assert gone() is None
    assert len(alive) > systemd.GC_THRESHOLDS[0]


def test_run_sets_them_before_the_service_starts(
    thresholds: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`ipfm-scheduler run` sets them before its daemon starts (here a stand-in that only
    notes the thresholds it runs with)."""
    seen: list[tuple[int, ...]] = []

    class Daemon:
        def __init__(self, *_a: Any, **_k: Any) -> None:
            self.signals = SimpleNamespace(install=lambda: None)

        def run(self) -> None:
            seen.append(gc.get_threshold())

    monkeypatch.setattr("ipfm_scheduler.service.daemon.Daemon", Daemon)
    monkeypatch.setattr(systemd, "limit_arenas", lambda: False)  # the test process's malloc
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", root.level)  # `run` lowers it to INFO
    gc.set_threshold(700, 10, 10)
    done = CliRunner().invoke(cli, ["--config", str(tmp_path / "ipfm.yaml"), "run"])
    assert done.exit_code == 0, done.output
    assert seen == [systemd.GC_THRESHOLDS]
