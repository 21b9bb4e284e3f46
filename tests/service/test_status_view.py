"""What `status` says about commands: those waiting for an answer, and apart from them those
stored ahead for later airings (make-ups, `air --at`), which wait for their time."""

from __future__ import annotations

from datetime import timedelta

from ipfm_scheduler.cli.status_view import waiting_commands
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.service.ports import AiringRecord, CommandRecord
from tests.service.helpers import MONDAY, TZ, local

NOW = local(MONDAY, "23:50")
LEAD = timedelta(minutes=2)


class Counts:
    """The repository's count of open commands by state (the whole database)."""

    def __init__(self, counts: dict[CommandState, int]) -> None:
        self.counts = counts

    def open_commands(self) -> dict[CommandState, int]:
        return self.counts


def airing(aid: int, start_hhmm: str, day_offset: int, *states: CommandState) -> AiringRecord:
    start = local(MONDAY + timedelta(days=day_offset), start_hhmm)
    commands = {
        f"loa-{i:02d}": CommandRecord(f"c{aid}-{i}", f"loa-{i:02d}", state)
        for i, state in enumerate(states, start=1)
    }
    return AiringRecord(aid, "cam-son", "kh179", start, start + LEAD, Origin.MAKEUP,
                        Priority.NORMAL, commands)  # fmt: skip


def test_commands_of_airings_not_due_yet_are_not_counted_as_waiting_for_an_answer() -> None:
    now_airing = airing(1, "23:49", 0, CommandState.PENDING, CommandState.SENT)
    tomorrow = airing(2, "05:30", 1, CommandState.PENDING, CommandState.PENDING)
    repo = Counts({CommandState.PENDING: 3, CommandState.SENT: 1})
    view = waiting_commands(repo, [now_airing, tomorrow], TZ, NOW, LEAD)  # type: ignore[arg-type]
    assert view["counts"] == {"pending": 1, "sent": 1}
    assert [w["command"] for w in view["oldest"]] == ["c1-1", "c1-2"]
    assert view["stored_for_later"] == 2
    assert view["next_sent_at"] == "2026-11-24 05:28:00 +0700"


def test_with_nothing_stored_ahead_every_open_command_waits() -> None:
    repo = Counts({CommandState.PENDING: 1})
    due = airing(1, "23:51", 0, CommandState.PENDING)
    view = waiting_commands(repo, [due], TZ, NOW, LEAD)  # type: ignore[arg-type]
    assert view["counts"] == {"pending": 1}  # due within the lead: it is being sent
    assert view["stored_for_later"] == 0
    assert view["next_sent_at"] is None
