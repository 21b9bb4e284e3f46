"""A small schema-driven reader of YAML node trees.

A :class:`Shape` lists the keys of a mapping; each :class:`Key` has a :class:`Kind` that knows
how to read its node (``kinds.py``) and what its JSON Schema is (``schema.py`` builds the ward
file's schema from the same shapes, so the two never drift apart). Reading never stops at the
first mistake: every problem is recorded, with the file, line, column and key path, and the
value read is :data:`INVALID` where it could not be understood.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from ipfm_scheduler.config.nodes import Node, is_null
from ipfm_scheduler.errors import ConfigProblem
from ipfm_scheduler.i18n import _


class Invalid:
    """The value of something that could not be read (its problem is already recorded)."""

    _instance: Invalid | None = None

    def __new__(cls) -> Invalid:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID: Final = Invalid()


QUOTED_MAX = 80  # characters of a value shown in a message; longer ones are cut with "…"


def quote(text: str) -> str:
    """``text`` in double quotes, as messages show what was found (at most ``QUOTED_MAX``
    characters of it: a megabyte pasted into a value must not come back as a megabyte of
    message)."""
    if len(text) > QUOTED_MAX:
        text = text[: QUOTED_MAX - 1] + "…"
    return json.dumps(text, ensure_ascii=False)


def describe(node: Node) -> str:
    """What a node is, in words: for "expected X, found Y" messages."""
    if isinstance(node, yaml.MappingNode):
        return _("a group of `key: value` lines")
    if isinstance(node, yaml.SequenceNode):
        return _("a list")
    if is_null(node):
        return _("an empty value")
    return quote(str(node.value))


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def item(path: str, index: int) -> str:
    """The path of a list item; items count from 1, as people count them."""
    return f"{path}[{index}]"


def suggestion(
    word: str, choices: Iterator[str] | list[str] | tuple[str, ...], cutoff: float = 0.6
) -> str:
    """`` (did you mean "x"?)`` when ``word`` is close to one of ``choices``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return _(" (did you mean {word}?)").format(word=quote(close[0])) if close else ""


@dataclass
class FileReader:
    """Collects the problems of one file while its nodes are read."""

    file: str
    problems: list[ConfigProblem] = field(default_factory=list)
    #: values written in another accepted form (``T2``, ``05/12/2026``) and what they were read
    #: as: not problems, but `validate` says them so that nobody has to guess
    notes: list[ConfigProblem] = field(default_factory=list)

    def _locate(self, node: Node | None, path: str, message: str) -> ConfigProblem:
        if node is None:
            return ConfigProblem(self.file, 0, 0, path, message)
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return ConfigProblem(self.file, line, column, path, message)

    def problem(self, node: Node | None, path: str, message: str) -> Invalid:
        self.problems.append(self._locate(node, path, message))
        return INVALID

    def note(self, node: Node, path: str, message: str) -> None:
        """Record what a value written in another accepted form was read as."""
        self.notes.append(self._locate(node, path, message))

    def read(self, node: Node, path: str, kind: Kind) -> Any:
        return kind.read(self, node, path)


ReadFn = Callable[[FileReader, Node, str], Any]


@dataclass(frozen=True, slots=True)
class Kind:
    """What a value is: how to read it from a node, and its JSON Schema."""

    #: in words, for messages: "a time of day (HH:MM)" (English, marked with ``N_``; a
    #: ``{placeholder}`` is filled from :attr:`fill`): :attr:`words` is what people read
    expected: str
    read: ReadFn
    schema: Mapping[str, Any]
    shape: Shape | None = None  # a mapping with these keys
    items: Kind | None = None  # a list of these
    values: Kind | None = None  # a mapping from ids to these
    fill: Mapping[str, object] = field(default_factory=dict)

    @property
    def words(self) -> str:
        """:attr:`expected` in the language spoken now."""
        if not self.fill:
            return _(self.expected)
        fill = {k: _(v) if isinstance(v, str) else v for k, v in self.fill.items()}
        return _(self.expected).format(**fill)


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: Kind
    help: str  # what the key means (``N_``): for messages, and the schema's descriptions
    required: bool = False
    default: Any = None
    if_empty: str = ""  # advice (``N_``) when an empty value is refused; "" = the default


@dataclass(frozen=True, slots=True)
class Shape:
    """A mapping with known keys."""

    what: str  # "a receiver" (``N_``: translated where shown)
    keys: tuple[Key, ...]
    schema_extra: Mapping[str, Any] = field(default_factory=dict)
    by_name: Mapping[str, Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {k.name: k for k in self.keys})

    def key(self, name: str) -> Key | None:
        return self.by_name.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


@dataclass
class Fields:
    """A mapping read by its :class:`Shape`: values (defaults filled in) and their nodes."""

    node: Node
    path: str
    values: dict[str, Any]
    key_nodes: dict[str, Node]
    value_nodes: dict[str, Node]
    ok: bool  # every key present and readable (problems inside nested values aside)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def given(self, name: str) -> bool:
        """True if the file gives the key a (non-empty) value."""
        node = self.value_nodes.get(name)
        return node is not None and not is_null(node)

    def at(self, name: str) -> Node:
        """The node to point at for a problem with ``name``: its value, else the mapping."""
        return self.value_nodes.get(name) or self.node


def read_shape(r: FileReader, node: Node, path: str, shape: Shape) -> Fields | Invalid:
    """Read a mapping: unknown, duplicated, missing and unreadable keys are all reported."""
    if not isinstance(node, yaml.MappingNode):
        return r.problem(
            node,
            path,
            _("expected {expected}, found {found}").format(
                expected=_(shape.what), found=describe(node)
            ),
        )
    fields = Fields(node, path, {}, {}, {}, ok=True)
    for key_node, value_node in node.value:
        name = _key_name(r, key_node, path, shape, fields)
        if name is None:
            continue
        key = shape.key(name)
        if key is None:
            continue
        fields.key_nodes[name] = key_node
        fields.value_nodes[name] = value_node
        value = _read_value(r, key, value_node, child(path, name))
        fields.values[name] = value
        if value is INVALID:
            fields.ok = False
    for key in shape.keys:
        if key.name in fields.key_nodes:
            continue
        if key.required:
            fields.ok = False
            r.problem(
                node,
                path,
                _("the key {key} is missing ({meaning})").format(
                    key=quote(key.name), meaning=_(key.help)
                ),
            )
        fields.values[key.name] = key.default
    return fields


def _key_name(r: FileReader, key_node: Node, path: str, shape: Shape, fields: Fields) -> str | None:
    """The key's name if it is a known key seen for the first time; reports the others."""
    if not isinstance(key_node, yaml.ScalarNode):
        r.problem(
            key_node,
            path,
            _("a key must be a single word, found {found}").format(found=describe(key_node)),
        )
        return None
    name = str(key_node.value)
    if name in fields.key_nodes:
        first = fields.key_nodes[name].start_mark.line + 1
        r.problem(
            key_node,
            child(path, name),
            _("the key {key} appears twice (first on line {first}); keep only one").format(
                key=quote(name), first=first
            ),
        )
        return None
    if name == "<<":
        r.problem(
            key_node,
            path,
            _("merge keys (<<) are not supported in these files: write the keys out in full"),
        )
        return None
    if shape.key(name) is None:
        known = ", ".join(shape.names)
        r.problem(
            key_node,
            child(path, name),
            _("unknown key {key}{hint}; {what} has the keys: {known}").format(
                key=quote(name),
                hint=suggestion(name, shape.names),
                what=_(shape.what),
                known=known,
            ),
        )
        return None
    return name


def _read_value(r: FileReader, key: Key, node: Node, path: str) -> Any:
    if is_null(node):
        if key.required:
            return r.problem(
                node, path, _("is empty; expected {expected}").format(expected=key.kind.words)
            )
        if key.if_empty:
            return r.problem(
                node,
                path,
                _("is empty; expected {expected}: {advice}").format(
                    expected=key.kind.words, advice=_(key.if_empty)
                ),
            )
        return key.default
    return key.kind.read(r, node, path)
