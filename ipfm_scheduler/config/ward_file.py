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

from ipfm_scheduler.config.compound import list_of, shaped
from ipfm_scheduler.config.kinds import BOOL, DATE, DAY, ID, TEXT, TIME, number
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
from ipfm_scheduler.i18n import N_, _

DAYS = list_of(DAY, N_("a list of days, such as [mon, thu]"), min_items=1, convert=frozenset)
DATES = list_of(DATE, N_("a list of dates, such as [2027-02-04]"), min_items=1, convert=tuple)
SKIP_DATES = list_of(DATE, N_("a list of dates, such as [2027-02-06]"), convert=frozenset)

RECEIVER = Shape(
    N_("a receiver"),
    (
        Key("id", ID, N_("the receiver's id, unique in the ward, such as loa-01"), required=True),
        Key("location", TEXT, N_('where it stands, such as "Tổ 3, khu 5"'), default=""),
        Key(
            "enabled",
            BOOL,
            N_("false while it is out of service: it gets no commands and is not counted"),
            default=True,
        ),
    ),
)

WINDOW = Shape(
    N_("a window"),
    (
        Key("days", DAYS, N_("the days it is open, such as [mon, tue, wed]"), required=True),
        Key("from", TIME, N_('when the loudspeakers may start, such as "05:30"'), required=True),
        Key("to", TIME, N_('when they must be silent again, such as "06:30"'), required=True),
    ),
)

AIRING = Shape(
    N_("an airing"),
    (
        Key("programme", ID, N_("the programme to air, such as kh179"), required=True),
        Key("days", DAYS, N_("for a weekly airing: the days, such as [mon, thu]")),
        Key("dates", DATES, N_("for one-off airings: the dates, such as [2027-02-04]")),
        Key("at", TIME, N_('when it starts, such as "06:00"'), required=True),
        Key(
            "volume",
            number(0, 100),
            N_("loudness from 0 to 100 (default 80)"),  # DEFAULT_VOLUME (a test checks)
            default=DEFAULT_VOLUME,
        ),
    ),
    schema_extra={"oneOf": [{"required": ["days"]}, {"required": ["dates"]}]},
)

WARD = Shape(
    N_("a ward file"),
    (
        Key(
            "id",
            ID,
            N_("the ward's id, such as cam-trung; the file is named after it"),
            required=True,
        ),
        Key("name", TEXT, N_('the ward\'s name, such as "Phường Cẩm Trung"'), required=True),
        Key(
            "receivers",
            list_of(shaped(RECEIVER), N_("a list of receivers")),
            N_("the ward's loudspeaker clusters"),
            required=True,
        ),
        Key(
            "windows",
            list_of(shaped(WINDOW), N_("a list of windows")),
            N_("when the loudspeakers may sound at all"),
            required=True,
        ),
        Key(
            "airings",
            list_of(shaped(AIRING), N_("a list of airings")),
            N_("what this ward plans to air"),
            required=True,
        ),
        Key(
            "skip_dates", SKIP_DATES, N_("dates with no broadcasting (Tết, …)"), default=frozenset()
        ),
        Key(
            "accept_unsigned",
            BOOL,
            N_(
                "true while some of its receivers still speak protocol version 1: their unsigned "
                "answers count, marked unverified"
            ),
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
        r.problem(
            None,
            "",
            _("the file is empty; a ward file has the keys {keys}").format(
                keys=", ".join(WARD.names)
            ),
        )
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
            _(
                "{id} does not match the file name {file}: a ward file is named after its id "
                "(rename the file to {new}, or correct the id)"
            ).format(id=quote(ward_id), file=file_name, new=f"{ward_id}.yaml"),
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
                _(
                    "the receiver id {id} is already used by {first} (line {line}); receiver ids "
                    "are unique in a ward"
                ).format(
                    id=quote(receiver_id),
                    first=first,
                    line=found[receiver_id].node.start_mark.line + 1,
                ),
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
                _(
                    '"{end}" is not after the window\'s start "{start}": a window ends after it '
                    "starts, on the same day (use 23:59 for the end of the day)"
                ).format(end=f"{end:%H:%M}", start=f"{start:%H:%M}"),
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
                _(
                    'has both "days" and "dates": use "days" for an airing every week, or '
                    '"dates" for one-off airings, not both in one airing'
                ),
            )
            continue
        if not weekly and not once:
            r.problem(
                fields.node,
                fields.path,
                _(
                    'needs "days" (every week, such as [mon, thu]) or "dates" (one-off, such as '
                    "[2027-02-04])"
                ),
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
            days=frozenset(v for v, _node in good) if weekly else frozenset(),
            dates=() if weekly else tuple(v for v, _node in good),
            volume=volume if isinstance(volume, int) else DEFAULT_VOLUME,
        )
    except ValueInvalid:  # no valid day or date left
        return None
    dates_at = () if weekly else tuple(n for _value, n in good)
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
