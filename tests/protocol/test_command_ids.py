"""Command ids: version 7 UUIDs that only increase within a process (protocol/command_ids.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ipfm_scheduler import protocol
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.protocol import command_ids
from ipfm_scheduler.protocol.command_ids import new_command_ids

AT = datetime(2026, 12, 6, 6, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    """Each test starts as a new process would (no id made yet), and leaves the state as found."""
    saved = list(command_ids._last)
    command_ids._last[:] = [-1, 0]
    yield
    command_ids._last[:] = saved


def ms_of(command_id: str) -> int:
    return uuid.UUID(command_id).int >> 80


def test_ids_are_version_7_uuids_of_the_time_given_and_valid_command_ids() -> None:
    ids = new_command_ids(1000, AT)
    assert len(set(ids)) == 1000
    for cid in ids:
        parsed = uuid.UUID(cid)
        assert str(parsed) == cid  # lower case, with hyphens
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert COMMAND_ID_RE.fullmatch(cid)
        assert ms_of(cid) == 1_796_536_800_123  # 2026-12-06T06:00:00.123Z


def test_the_time_is_read_in_utc_whatever_the_offset() -> None:
    local = AT.astimezone(timezone(timedelta(hours=7)))  # 13:00:00.123456+07:00
    assert ms_of(new_command_ids(1, local)[0]) == 1_796_536_800_123


def test_ids_increase_within_a_call_and_from_call_to_call() -> None:
    first = new_command_ids(500, AT)
    same_ms = new_command_ids(500, AT)
    later = new_command_ids(500, AT + timedelta(seconds=1))
    ids = first + same_ms + later
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ms_of(later[0]) == ms_of(first[0]) + 1000


def test_a_time_earlier_than_the_last_ids_goes_on_from_them() -> None:
    ahead = new_command_ids(3, AT + timedelta(hours=1))
    behind = new_command_ids(3, AT)  # a clock set back, an airing issued late
    assert ahead + behind == sorted(ahead + behind)
    assert {ms_of(cid) for cid in behind} == {ms_of(ahead[0])}


def test_a_counter_that_runs_out_moves_to_the_next_millisecond() -> None:
    command_ids._last[:] = [1_796_536_800_123, command_ids._COUNTER_MAX - 1]
    ids = new_command_ids(3, AT)
    assert [ms_of(cid) for cid in ids] == [1_796_536_800_123, 1_796_536_800_124, 1_796_536_800_124]
    assert ids == sorted(ids)


def test_threads_never_get_the_same_id() -> None:
    made: list[list[str]] = []

    def make() -> None:
        made.append(new_command_ids(2000, AT))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(made) == 4
    assert len({cid for ids in made for cid in ids}) == 8000
    assert all(ids == sorted(ids) for ids in made)


@pytest.mark.parametrize(
    "at",
    [datetime(2026, 12, 6, 6, 0), datetime(1969, 12, 31, tzinfo=UTC)],
    ids=["naive", "before-1970"],
)
def test_a_time_that_names_no_instant_or_is_out_of_range_is_refused(at: datetime) -> None:
    with pytest.raises(ValueInvalid):
        new_command_ids(1, at)


def test_an_airings_commands_carry_the_time_they_were_issued() -> None:
    audio = protocol.AudioRef(f"http://127.0.0.1:8079/audio/{'ab' * 32}.mp3", "ab" * 32, 1, 2.0)
    start = AT + timedelta(minutes=2)
    command = protocol.PlayCommand(
        protocol.PLACEHOLDER_ID, "kh179", "Kế hoạch 179", audio, 80,
        Priority.NORMAL, start,
        start + timedelta(minutes=30), AT,
    )  # fmt: skip
    made = protocol.encode_plays(command, UTC, None, 5)
    assert [ms_of(cid) for cid, _payload in made] == [1_796_536_800_123] * 5
    assert [cid for cid, _payload in made] == sorted(cid for cid, _payload in made)
