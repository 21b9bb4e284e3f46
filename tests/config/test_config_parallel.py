"""A province's thousands of ward files are read on every core: the result is the same as
reading them one by one in this process, problems, order and duplicate ids included."""

from __future__ import annotations

import pytest

from ipfm_scheduler.config import loader
from ipfm_scheduler.config.loader import load
from tests.config.conftest import Station


@pytest.mark.parametrize("threads", [False, True], ids=["forked", "spawned"])
def test_reading_on_every_core_gives_what_one_process_gives(
    station: Station, monkeypatch: pytest.MonkeyPatch, threads: bool
) -> None:
    """With another thread running (as in the service), the processes are spawned, not forked;
    either way the result is the one of a single process."""
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    copy = station.ward_path("cam-son.yaml").read_text(encoding="utf-8")
    station.write_ward("cam-son-2.yaml", copy)  # a duplicate id, in a file of the wrong name
    alone = load(station.path, **station.options())  # type: ignore[arg-type]
    used: list[int] = []
    in_processes = loader._in_processes

    def counted(job: loader._WardJob, paths: list) -> list | None:  # type: ignore[type-arg]
        found = in_processes(job, paths)
        used.append(len(paths) if found is not None else 0)
        return found

    monkeypatch.setattr(loader, "PARALLEL_FROM", 1)
    monkeypatch.setattr(loader, "_in_processes", counted)
    started: list[str] = []
    original = loader.multiprocessing.get_context
    monkeypatch.setattr(
        loader.multiprocessing, "get_context", lambda m: started.append(m) or original(m)
    )
    # as many threads as a command (1) or a service (paho's, the scheduler's, ...) runs
    monkeypatch.setattr(loader.threading, "active_count", lambda: 5 if threads else 1)
    spread = load(station.path, **station.options())  # type: ignore[arg-type]
    assert started == ["spawn" if threads else "fork"]
    assert used == [17]  # the 17 ward files went to the other processes
    assert spread.problems == alone.problems
    assert any("already used by" in p.message for p in spread.problems)
    assert any("25:00" in p.message for p in spread.problems)
    assert spread.ward_files == alone.ward_files
    assert spread.schedule is not None
    assert alone.schedule is not None
    assert spread.schedule.wards == alone.schedule.wards
