"""The demo's progress, read from the airing log: what happened to the airings of ``run --demo``.

``scripts/demo.sh`` runs this beside the service. Every second it reads the demo's commands from
the database (read-only, as the auditors' commands do) and prints a line each time their states
change, e.g. ``+3 s  16 airing(s), 49 command(s): 49 received``, so the user sees the commands
stored, taken by the broker (``sent``), taken by the loudspeakers (``received``), ``playing``,
and finally ``completed`` once the whole recording has played.

    python -m ipfm_scheduler.cli.demo_watch --database URL [--timeout 180]

Exit status: 0 once every demo command is ``completed``; 1 when every one has a final answer but
some are not ``completed`` (failed, rejected, expired), or when the timeout passes first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable

from ipfm_scheduler import i18n
from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.language import station_language
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.manual import DEMO_NOTE
from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.i18n import _, ngettext
from ipfm_scheduler.storage.audit import LogFilter, LogRow, airing_log, open_for_audit

ORDER = [s.value for s in sorted(CommandState, key=lambda s: s.rank)]


class Progress:
    """The states of the demo's commands at one moment."""

    def __init__(self, rows: Iterable[LogRow]) -> None:
        demo = [r for r in rows if r.note == DEMO_NOTE]
        self.airings = len({r.airing_id for r in demo})
        self.states = Counter(r.state for r in demo if r.state is not None)

    @property
    def commands(self) -> int:
        return sum(self.states.values())

    @property
    def finished(self) -> bool:
        """Every command has a final answer (or expired)."""
        return self.commands > 0 and all(not CommandState(s).open for s in self.states)

    @property
    def completed(self) -> bool:
        return self.commands > 0 and self.states[CommandState.COMPLETED.value] == self.commands

    def describe(self) -> str:
        if not self.commands:
            return _("no demo airing stored yet")
        parts = ", ".join(f"{self.states[s]} {s}" for s in ORDER if self.states[s])
        airings = ngettext("{n} airing", "{n} airings", self.airings).format(n=self.airings)
        commands = ngettext("{n} command", "{n} commands", self.commands).format(n=self.commands)
        return f"{airings}, {commands}: {parts}"


def read(url: str) -> Progress:
    with open_for_audit(url) as conn:
        return Progress(airing_log(conn, LogFilter()))


def watch(url: str, timeout: float, every: float = 1.0) -> int:
    began = time.monotonic()
    shown = ""
    while True:
        elapsed = time.monotonic() - began
        progress: Progress | None = None
        try:
            progress = read(url)
            text = progress.describe()
        except IpfmError as exc:  # the service may not have created the schema yet
            text = _("(database not ready: {error})").format(error=exc)
        if text != shown:
            print(f"  +{elapsed:3.0f} s  {text}", flush=True)
            shown = text
        if progress is not None and progress.finished:
            return 0 if progress.completed else 1
        if elapsed > timeout:
            print(
                _("  not all confirmed after {seconds} s").format(seconds=f"{timeout:g}"),
                flush=True,
            )
            return 1
        time.sleep(every)  # a script polling a database, not a test


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="the demo's database URL")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds (default 180)")
    args = parser.parse_args(argv)
    station = station_language(Options().station_path())  # $IPFM_CONFIG, as the demo sets it
    i18n.set_language(i18n.choose(None, os.environ, station)[0])
    return watch(args.database, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
