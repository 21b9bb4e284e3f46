"""Kinds made of other kinds: lists of them, mappings with known keys (a :class:`Shape`), and
mappings from ids to them (``programmes:``, ``signing.wards:``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ipfm_scheduler.config.kinds import read_id
from ipfm_scheduler.config.nodes import Node
from ipfm_scheduler.config.reader import (
    INVALID,
    Fields,
    FileReader,
    Invalid,
    Kind,
    Shape,
    describe,
    item,
    quote,
    read_shape,
)
from ipfm_scheduler.core.ids import NAME_RE
from ipfm_scheduler.i18n import _


def list_of(
    kind: Kind,
    what: str,
    *,
    min_items: int = 0,
    convert: Callable[[list[Any]], Any] | None = None,
) -> Kind:
    """A list of ``kind`` (``what``: marked with ``N_``). With ``convert``, the list becomes
    ``convert(items)`` when every item is valid (else :data:`INVALID`); without, the items are
    returned as read (some INVALID)."""

    def read(r: FileReader, node: Node, path: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            return r.problem(
                node,
                path,
                _("expected {expected}, found {found}").format(
                    expected=_(what), found=describe(node)
                ),
            )
        if len(node.value) < min_items:
            return r.problem(
                node, path, _("is empty; expected {expected}").format(expected=_(what))
            )
        values = [kind.read(r, n, item(path, i)) for i, n in enumerate(node.value, 1)]
        if convert is None:
            return values
        return INVALID if any(v is INVALID for v in values) else convert(values)

    schema: dict[str, Any] = {"type": "array"}
    if min_items:
        schema["minItems"] = min_items
    return Kind(what, read, schema, items=kind)


def shaped(shape: Shape) -> Kind:
    """A mapping with the keys of ``shape`` (read into :class:`Fields`)."""

    def read(r: FileReader, node: Node, path: str) -> Fields | Invalid:
        return read_shape(r, node, path, shape)

    return Kind(shape.what, read, {}, shape=shape)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a mapping keyed by ids (``programmes:``, ``signing.wards:``)."""

    key_node: Node
    value: Any


def map_of(kind: Kind, what: str) -> Kind:
    """A mapping from ids to ``kind``: ``{id: Entry}`` (duplicates and bad ids reported)."""

    def read(r: FileReader, node: Node, path: str) -> dict[str, Entry] | Invalid:
        if not isinstance(node, yaml.MappingNode):
            return r.problem(
                node,
                path,
                _("expected {expected}, found {found}").format(
                    expected=_(what), found=describe(node)
                ),
            )
        entries: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            name = read_id(r, key_node, path)
            if not isinstance(name, str):
                continue
            sub = f"{path}.{name}"
            if name in entries:
                first = entries[name].key_node.start_mark.line + 1
                r.problem(
                    key_node,
                    sub,
                    _("{name} appears twice (first on line {first})").format(
                        name=quote(name), first=first
                    ),
                )
                continue
            entries[name] = Entry(key_node, kind.read(r, value_node, sub))
        return entries

    schema: Mapping[str, Any] = {
        "type": "object",
        "propertyNames": {"pattern": f"^{NAME_RE.pattern}$"},
    }
    return Kind(what, read, schema, values=kind)
