"""What `ipfm-scheduler log` prints: the airing log's rows as a table (in the language spoken),
CSV (headers in the language spoken, values as recorded) or JSON (as recorded)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from ipfm_scheduler.cli.audit_render import (
    local_iso_or_none,
    local_short,
    local_text,
    origin_words,
    state_words,
    table,
)
from ipfm_scheduler.i18n import N_, NP_, _, ngettext, pgettext
from ipfm_scheduler.storage.audit import LogRow, zone_name

#: the CSV's columns (and the JSON keys): each is its English header; the header row gives them
#: in the language spoken
LOG_COLUMNS = (
    N_("planned_local"), N_("week"), N_("ward"), N_("programme"), N_("origin"), N_("priority"),
    N_("airing_outcome"), N_("receiver"), N_("command_id"), N_("state"), N_("attempts"),
    N_("first_sent"), N_("state_at"), N_("receiver_time"), N_("detail"), N_("played_s"),
    N_("airing_id"), N_("note"), N_("verified"),
)  # fmt: skip


# --- the airing log ---------------------------------------------------------------------------


def log_rows(rows: Sequence[LogRow], zone: tzinfo) -> list[dict[str, Any]]:
    """One dict per row; a missing value is None (null in JSON, an empty cell in CSV)."""
    return [
        {
            "planned_local": r.planned_local,
            "week": r.week,
            "ward": r.ward,
            "programme": r.programme,
            "origin": r.origin,
            "priority": r.priority,
            "airing_outcome": r.airing_outcome,
            "receiver": r.receiver,
            "command_id": r.command_id,
            "state": r.state or "no command",
            "attempts": r.attempts,
            "first_sent": local_iso_or_none(r.first_sent_at, zone),
            "state_at": local_iso_or_none(r.state_at, zone),
            "receiver_time": local_iso_or_none(r.receiver_at, zone),
            "detail": r.detail or None,
            "played_s": r.played_s,
            "airing_id": r.airing_id,
            "note": r.note or None,
            "verified": r.answer_verified,  # null: no answer set the state (or before v2)
        }
        for r in rows
    ]


#: "sent at": when the broker first took the command; "state at": when the state shown was
#: learnt (for `completed`, when the loudspeaker confirmed it had played the whole recording)
LOG_HEADERS = (
    NP_("log", "planned"), NP_("log", "ward"), NP_("log", "programme"), NP_("log", "origin"),
    NP_("log", "receiver"), NP_("log", "sent at"), NP_("log", "state"), NP_("log", "state at"),
    NP_("log", "detail"),
)  # fmt: skip


def log_table(rows: Sequence[LogRow], zone: tzinfo) -> str:
    body = [
        (
            local_text(r.planned_local),
            r.ward,
            r.programme,
            origin_words(r.origin),
            r.receiver or "-",
            local_short(r.first_sent_at, zone),
            _table_state(r),
            local_short(r.state_at, zone) if r.state else "",
            r.detail or (r.note or "" if _missed(r) else ""),
        )
        for r in rows
    ]
    footer = ngettext(
        "{count} row (times in {zone})", "{count} rows (times in {zone})", len(rows)
    ).format(count=len(rows), zone=zone_name(zone))
    return "\n".join([*table([pgettext("log", h) for h in LOG_HEADERS], body), "", footer])


def _missed(row: LogRow) -> bool:
    """An airing recorded missed (its window closed before anything was sent): no command will
    ever come for it."""
    return row.state is None and row.airing_outcome == "missed"


def _table_state(row: LogRow) -> str:
    if row.state:
        words = state_words(row.state)
        return (
            _("{state} (unverified)").format(state=words) if row.answer_verified is False else words
        )
    return _("missed") if _missed(row) else _("no command")
