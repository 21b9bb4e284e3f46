"""The command line: every command, and the only place that turns errors into exit codes."""

from __future__ import annotations


def main() -> None:  # replaced by the click group when the CLI lands
    raise SystemExit("not yet")
