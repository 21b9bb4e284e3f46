"""A ward file (``config/wards/<ward-id>.yaml``): its shape, and reading it into a core Ward.

Checks that need only the file itself happen here (keys, types, ids, duplicate receivers, the
file name, windows that end before they start, airings with both or neither of days/dates).
Checks that need the station (programmes, windows that fit the audio, the weekly minimum) are
in :mod:`ipfm_scheduler.config.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

import yaml

from ipfm_scheduler.config.kinds import BOOL, DATE, DAY, ID, TEXT, TIME, list_of, number, shaped
from ipfm_scheduler.config.nodes import Node
from ipfm_scheduler.config.reader import (
    INVALID,
    Fields,
    FileReader,
    Key,
    Shape,
    child,
    quote,
    read_shape,
)
from ipfm_scheduler.core.model import DEFAULT_VOLUME, AiringRule, Receiver, Ward, Window
from ipfm_scheduler.errors import ValueInvalid

DAYS = list_of(DAY, "a list of days, such as [mon, thu]", min_items=1, convert=frozenset)
DATES = list_of(DATE, "a list of dates, such as [2027-02-04]", min_items=1, convert=tuple)
SKIP_DATES = list_of(DATE, "a list of dates, such as [2027-02-06]", convert=frozenset)

RECEIVER = Shape(
    "a receiver",
    (
        Key("id", ID, "the receiver's id, unique in the ward, such as loa-01", required=True),
        Key("location", TEXT, 'where it stands, such as "Tổ 3, khu 5"', default=""),
        Key(
            "enabled",
            BOOL,
            "false while it is out of service: it gets no commands and is not counted",
            default=True,
        ),
    ),
)

WINDOW = Shape(
    "a window",
    (
        Key("days", DAYS, "the days it is open, such as [mon, tue, wed]", required=True),
        Key("from", TIME, 'when the loudspeakers may start, such as "05:30"', required=True),
        Key("to", TIME, 'when they must be silent again, such as "06:30"', required=True),
    ),
)

AIRING = Shape(
    "an airing",
    (
        Key("programme", ID, "the programme to air, such as kh179", required=True),
        Key("days", DAYS, "for a weekly airing: the days, such as [mon, thu]"),
        Key("dates", DATES, "for one-off airings: the dates, such as [2027-02-04]"),
        Key("at", TIME, 'when it starts, such as "06:00"', required=True),
        Key(
            "volume",
            number(0, 100),
            f"loudness from 0 to 100 (default {DEFAULT_VOLUME})",
            default=DEFAULT_VOLUME,
        ),
    ),
    schema_extra={"oneOf": [{"required": ["days"]}, {"required": ["dates"]}]},
)

WARD = Shape(
    "a ward file",
    (
        Key(
            "id", ID, "the ward's id, such as cam-trung; the file is named after it", required=True
        ),
        Key("name", TEXT, 'the ward\'s name, such as "Phường Cẩm Trung"', required=True),
        Key(
            "receivers",
            list_of(shaped(RECEIVER), "a list of receivers"),
            "the ward's loudspeaker clusters",
            required=True,
        ),
        Key(
            "windows",
            list_of(shaped(WINDOW), "a list of windows"),
            "when the loudspeakers may sound at all",
            required=True,
        ),
        Key(
            "airings",
            list_of(shaped(AIRING), "a list of airings"),
            "what this ward plans to air",
            required=True,
        ),
        Key("skip_dates", SKIP_DATES, "dates with no broadcasting (Tết, …)", default=frozenset()),
        Key(
            "accept_unsigned",
            BOOL,
            "true while some of its receivers still speak protocol version 1: their unsigned "
            "answers count, marked unverified",
            default=False,
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class AiringSource:
    """An airing rule that could be read, with where it stands in the file."""

    path: str
    rule: AiringRule
    fields: Fields
    dates_at: tuple[Node, ...] = ()  # the node of each of ``rule.dates``
    #: False for an airing with mistakes, of which only what could be read is kept (some of
    #: its days, say): it is still checked against the windows, so that every mistake shows
    complete: bool = True


@dataclass
class WardSource:
    """What could be read of one ward file (the file is valid only if it has no problems)."""

    file: str
    root: Node | None
    fields: Fields | None = None
    ward: Ward | None = None  # None when even the id could not be read
    airings: list[AiringSource] = field(default_factory=list)
    partial: list[AiringSource] = field(default_factory=list)  # airings with mistakes
    windows_ok: bool = False

    @property
    def ward_id(self) -> str | None:
        return self.ward.id if self.ward else None


def read_ward(r: FileReader, root: Node | None, file_name: str) -> WardSource:
    """Read one ward file's nodes; every problem goes to ``r``."""
    source = WardSource(r.file, root)
    if root is None:
        r.problem(None, "", f"the file is empty; a ward file has the keys {', '.join(WARD.names)}")
        return source
    fields = read_shape(r, root, "", WARD)
    if not isinstance(fields, Fields):
        return source
    source.fields = fields
    ward_id = fields["id"]
    stem = file_name.rsplit(".", 1)[0]
    if isinstance(ward_id, str) and ward_id != stem:
        r.problem(
            fields.at("id"),
            "id",
            f"{quote(ward_id)} does not match the file name {file_name}: a ward file is named "
            f"after its id (rename the file to {ward_id}.yaml, or correct the id)",
        )
    receivers = _receivers(r, fields["receivers"])
    windows, source.windows_ok = _windows(r, fields["windows"])
    read = _airings(r, fields["airings"])
    source.airings = [a for a in read if a.complete]
    source.partial = [a for a in read if not a.complete]
    if isinstance(ward_id, str):
        name = fields["name"] if isinstance(fields["name"], str) else ""
        skip = fields["skip_dates"] if isinstance(fields["skip_dates"], frozenset) else frozenset()
        source.ward = Ward(
            ward_id,
            name,
            tuple(receivers),
            tuple(windows),
            tuple(a.rule for a in source.airings),
            skip,
            accept_unsigned=fields["accept_unsigned"] is True,
        )
    return source


def _items(value: Any) -> list[Fields]:
    """The list items that were read as mappings with all their keys valid."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Fields) and v.ok]


def _receivers(r: FileReader, value: Any) -> list[Receiver]:
    found: dict[str, Fields] = {}
    receivers = []
    for fields in _items(value):
        receiver_id = fields["id"]
        if receiver_id in found:
            first = found[receiver_id].path
            r.problem(
                fields.at("id"),
                child(fields.path, "id"),
                f"the receiver id {quote(receiver_id)} is already used by {first} "
                f"(line {found[receiver_id].node.start_mark.line + 1}); receiver ids are unique "
                "in a ward",
            )
            continue
        found[receiver_id] = fields
        receivers.append(Receiver(receiver_id, fields["location"], fields["enabled"]))
    return receivers


def _windows(r: FileReader, value: Any) -> tuple[list[Window], bool]:
    """The windows that are valid, and whether every window in the file is.

    A window's end is checked against its start even when its other keys have mistakes, so
    that every mistake is reported at once.
    """
    all_ok = isinstance(value, list) and all(isinstance(v, Fields) and v.ok for v in value)
    windows = []
    read = value if isinstance(value, list) else []
    for fields in (v for v in read if isinstance(v, Fields)):
        start, end = fields["from"], fields["to"]
        if isinstance(start, time) and isinstance(end, time) and end <= start:
            all_ok = False
            r.problem(
                fields.at("to"),
                child(fields.path, "to"),
                f'"{end:%H:%M}" is not after the window\'s start "{start:%H:%M}": a window '
                "ends after it starts, on the same day (use 23:59 for the end of the day)",
            )
            continue
        if fields.ok:
            windows.append(Window(fields["days"], start, end))
    return windows, all_ok


def _airings(r: FileReader, value: Any) -> list[AiringSource]:
    airings = []
    read = value if isinstance(value, list) else []
    for fields in (v for v in read if isinstance(v, Fields)):
        weekly, once = fields.given("days"), fields.given("dates")
        if weekly and once:
            r.problem(
                fields.node,
                fields.path,
                'has both "days" and "dates": use "days" for an airing every week, or '
                '"dates" for one-off airings, not both in one airing',
            )
            continue
        if not weekly and not once:
            r.problem(
                fields.node,
                fields.path,
                'needs "days" (every week, such as [mon, thu]) or "dates" (one-off, such as '
                "[2027-02-04])",
            )
            continue
        if not fields.ok:
            partial = _partial(fields)
            if partial is not None:
                airings.append(partial)
            continue
        rule = AiringRule(
            programme=fields["programme"],
            at=fields["at"],
            days=fields["days"] if weekly else frozenset(),
            dates=fields["dates"] if once else (),
            volume=fields["volume"],
        )
        nodes = fields.value_nodes["dates"].value if once else ()
        airings.append(AiringSource(fields.path, rule, fields, tuple(nodes)))
    return airings


def _partial(fields: Fields) -> AiringSource | None:
    """What can be read of an airing with mistakes: its programme, its time and the days (or
    dates) that are valid; ``None`` if that is not enough to check it against the windows."""
    at, name, volume = fields["at"], fields["programme"], fields["volume"]
    weekly = fields.given("days")
    node = fields.value_nodes.get("days" if weekly else "dates")
    if not isinstance(at, time) or not isinstance(name, str):
        return None
    if not isinstance(node, yaml.SequenceNode):
        return None
    scratch = FileReader(fields.path)  # the items' problems are already reported
    kind = DAY if weekly else DATE
    good = [(v, n) for n in node.value if (v := kind.read(scratch, n, "")) is not INVALID]
    try:
        rule = AiringRule(
            programme=name,
            at=at,
            days=frozenset(v for v, _ in good) if weekly else frozenset(),
            dates=() if weekly else tuple(v for v, _ in good),
            volume=volume if isinstance(volume, int) else DEFAULT_VOLUME,
        )
    except ValueInvalid:  # no valid day or date left
        return None
    dates_at = () if weekly else tuple(n for _, n in good)
    return AiringSource(fields.path, rule, fields, dates_at, complete=False)


def airing_fields(source: WardSource) -> list[Fields]:
    """Every airing of the file that was read as a mapping, valid or not."""
    value = source.fields["airings"] if source.fields is not None else None
    return [v for v in value if isinstance(v, Fields)] if isinstance(value, list) else []


def date_nodes(airing: AiringSource) -> list[tuple[int, date, Node]]:
    """Each of a one-off airing's dates with its node and its place in the file's list (from
    1): a date of an airing with mistakes keeps its place among the dates that are not valid."""
    listed = airing.fields.value_nodes.get("dates")
    items = list(listed.value) if isinstance(listed, yaml.SequenceNode) else []
    places = {id(node): index for index, node in enumerate(items, 1)}
    return [
        (places.get(id(node), 0), day, node)
        for day, node in zip(airing.rule.dates, airing.dates_at, strict=True)
    ]
