"""YAML text -> node tree, with syntax errors translated into plain words.

We never let YAML's implicit typing decide a value: the loader only *composes* the text into
nodes (every scalar keeps its text, its quoting style and its position) and the schema-driven
reader (:mod:`ipfm_scheduler.config.reader`) decides what each text means where it stands.

Anchors and aliases (``&name`` / ``*name``, and merge keys ``<<: *name``) are refused: a ward
file is short, and a value defined in one place and silently reused in another is a trap for
whoever edits the file next. Each alias is reported with its line.
"""

from __future__ import annotations

import re

import yaml

from ipfm_scheduler.errors import ConfigProblem
from ipfm_scheduler.i18n import N_, _, ngettext

Node = yaml.Node

#: libyaml's composer when it is built in (it is, in PyYAML wheels), else the pure-Python one
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PLAIN_TAGS = {
    yaml.ScalarNode: "tag:yaml.org,2002:str",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


def _untyped(loader: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """``loader`` without implicit typing: every node is tagged as text, list or mapping.

    The reader decides what a text means where it stands, so resolving YAML 1.1 types (12:30
    as 750, ``no`` as false) would only cost time, and could never leak into a value.
    """

    def resolve(self: object, kind: type[yaml.Node], value: object, implicit: object) -> str:
        return _PLAIN_TAGS[kind]

    return type(f"Untyped{loader.__name__}", (loader,), {"resolve": resolve})


_composers: dict[type[yaml.SafeLoader], type[yaml.SafeLoader]] = {}


def _composer() -> type[yaml.SafeLoader]:
    if LOADER not in _composers:
        _composers[LOADER] = _untyped(LOADER)
    return _composers[LOADER]


ALIAS_MESSAGE = N_(
    "anchors and aliases (&name, *name, <<: *name) are not supported in these files: "
    "write the value out in full where it is needed"
)


def is_plain(node: Node) -> bool:
    """A scalar written without quotes (libyaml says '', the Python parser None)."""
    return isinstance(node, yaml.ScalarNode) and not node.style


def is_null(node: Node) -> bool:
    """An empty value (``key:``) or ``~``/``null`` written without quotes."""
    return is_plain(node) and node.value in ("", "~", "null", "Null", "NULL")


def compose(text: str, file: str) -> tuple[Node | None, list[ConfigProblem]]:
    """The node tree of ``text`` (``None`` for an empty file), and the problems found."""
    try:
        root = yaml.compose(text, Loader=_composer())
    except yaml.MarkedYAMLError as exc:
        return None, [syntax_problem(exc, text, file)]
    except yaml.reader.ReaderError as exc:  # a character YAML never allows (a control code)
        return None, [_bad_character(exc, text, file)]
    except yaml.YAMLError as exc:  # pragma: no cover - every other YAML error carries a mark
        message = _("the file is not valid YAML ({why})").format(why=exc)
        return None, [ConfigProblem(file, 0, 0, "", message)]
    problems = alias_problems(text, file) if "*" in text else []
    return root, problems


_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _bad_character(exc: yaml.reader.ReaderError, text: str, file: str) -> ConfigProblem:
    """Where the control character is, in words: YAML refuses them anywhere in the file. (The
    parser's own position counts bytes or characters depending on which parser ran: the
    character is looked for here instead.)"""
    found = _NOT_YAML.search(text)
    position = found.start() if found else 0
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = ord(found.group()) if found else int(exc.character or 0)
    why = (
        _("was the file saved as UTF-16 or as a word-processor document? save it as UTF-8 text")
        if code == 0
        else _("delete it (it can come from copying text out of another program)")
    )
    message = _("an invisible control character ({code}) is here: {why}").format(
        code=f"U+{code:04X}", why=why
    )
    return ConfigProblem(file, line, column, "", message)


def alias_problems(text: str, file: str) -> list[ConfigProblem]:
    """A problem at the first alias (``*name``) of ``text``, counting the others; the composer
    has already resolved them."""
    marks = [
        event.start_mark
        for event in yaml.parse(text, Loader=_composer())
        if isinstance(event, yaml.AliasEvent) and event.start_mark is not None
    ]
    if not marks:
        return []
    first = marks[0]  # one problem for the file, not one per alias (a "billion laughs" has 81)
    others = len(marks) - 1
    more = (
        ngettext(
            " (and {n} more alias in this file)", " (and {n} more aliases in this file)", others
        ).format(n=others)
        if others
        else ""
    )
    return [ConfigProblem(file, first.line + 1, first.column + 1, "", _(ALIAS_MESSAGE) + more)]


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    if 0 <= line < len(lines) and 0 <= column < len(lines[line]):
        return lines[line][column]
    return ""


_QUOTED_VALUE = re.compile(r"""^(\s*(?:-\s+)?(?:[^\s"'#][^:#]*:\s+)?)(["'])(.*)$""")


def _unclosed_quote(text: str, upto: int) -> tuple[int, int] | None:
    """(line, column) of a value that opens a quote and never closes it on its line, on or
    before line ``upto`` (0-based): the likely cause of a syntax error further down."""
    for number, line in enumerate(text.splitlines()[: upto + 1]):
        match = _QUOTED_VALUE.match(line)
        if match is None:
            continue
        quote, rest = match.group(2), match.group(3)
        closed = re.search(r'(?<!\\)"', rest) if quote == '"' else "'" in rest.replace("''", "")
        if not closed:
            return number, len(match.group(1))
    return None


def _other_tabs(text: str, line: int) -> str:
    """`` (tabs also indent lines 7, 8, …)``: YAML stops at the first, the editor fixes all."""
    others = [
        str(number + 1)
        for number, row in enumerate(text.splitlines())
        if number != line and "\t" in row[: len(row) - len(row.lstrip())]
    ]
    if not others:
        return ""
    shown = ", ".join(others[:8]) + (", …" if len(others) > 8 else "")
    return ngettext(
        "; tabs also indent line {lines}", "; tabs also indent lines {lines}", len(others)
    ).format(lines=shown)


def _where(mark: yaml.Mark | None) -> str:
    if mark is None:
        return _("above")
    return _("line {line}, column {column}").format(line=mark.line + 1, column=mark.column + 1)


_NO_SPACE_AFTER_COLON = re.compile(r"^(\s*(?:-\s+)?)([a-z_][\w-]*):(?=[^\s:/])(\S.*)$")
_NO_SPACE_AFTER_DASH = re.compile(r"^(\s*)-(?=[a-z_])([a-z_][\w-]*:.*)$")
_NO_COLON = re.compile(r"^(\s*(?:-\s+)?)([a-z_][\w-]*)\s+([^\s:#][^:#]*)$")
_QUOTES_INSIDE = re.compile(r"""^(\s*(?:-\s+)?[a-z_][\w-]*:\s+)(["'])(.*?)\2(?=[^\s#])(.*)$""")


def _typo(line_text: str) -> tuple[int, str] | None:
    """(column, message) of a typo a person makes in a `key: value` line that YAML reads as
    something else and reports elsewhere: no space after ':' or '-', or no ':' at all."""
    indent = line_text[: len(line_text) - len(line_text.lstrip())]
    if "\u00a0" in indent:
        return 0, _(
            "this line is indented with non-breaking spaces (copied from a document?): "
            "delete them and type ordinary spaces"
        )
    if found := _QUOTES_INSIDE.match(line_text):
        quote, inner = found.group(2), found.group(3) + found.group(2) + found.group(4)
        other = "'" if quote == '"' else '"'
        value = inner[:-1] if inner.endswith(quote) else inner
        return len(found.group(1)), _(
            "the {quote} inside this value ends it early: put the value in {other} quotes "
            "instead (write {example})"
        ).format(quote=quote, other=other, example=f"{other}{value}{other}")
    if found := _NO_SPACE_AFTER_COLON.match(line_text):
        key, value = found.group(2), found.group(3)
        return len(found.group(1)), _("put a space after the ':' (write {example})").format(
            example=f"`{key}: {value}`"
        )
    if found := _NO_SPACE_AFTER_DASH.match(line_text):
        return len(found.group(1)), _(
            "put a space after the '-' that starts a list item (write {example})"
        ).format(example=f"`- {found.group(2)}`")
    if found := _NO_COLON.match(line_text):
        key, value = found.group(2), found.group(3).strip()
        return len(found.group(1)), _(
            "this line has a key without ':' after it (write it as {example})"
        ).format(example=f"`{key}: {value}`")
    return None


def _typo_near(text: str, line: int) -> tuple[int, int, str] | None:
    """A typo on ``line`` (0-based) or on the last line with text before it (a YAML error is
    often noticed one line after its cause): (line, column, message)."""
    lines = text.splitlines()
    candidates = [line] if 0 <= line < len(lines) else []
    before = [n for n in range(min(line, len(lines)) - 1, -1, -1) if lines[n].strip()]
    candidates += [n for n in before[:1] if not lines[n].lstrip().startswith("#")]
    for number in candidates:
        found = _typo(lines[number].rstrip())
        if found is not None:
            return number, found[0], found[1]
    return None


def syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> ConfigProblem:
    """Translate a YAML syntax error into plain words, at the line where the fix is needed."""
    typo = _typo_behind(exc, text)
    if typo is not None:
        line, column, message = typo
        return ConfigProblem(file, line + 1, column + 1, "", message)
    return _syntax_message(exc, text, file)


def _typo_behind(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str] | None:
    """A person's typo (a missing space or ':') behind an error YAML reports in its own
    terms, often one line further down: (line, column, message), 0-based."""
    problem = (exc.problem or "").lower()
    context = (exc.context or "").lower()
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line, mark.column) if mark else (0, 0)
    if _char_at(text, line, column) == "\t" or "'\\t'" in problem:
        return None  # a tab has its own message
    if "could not find expected ':'" in problem and exc.context_mark is not None:
        return _typo_near(text, exc.context_mark.line)
    if (
        "mapping values are not allowed" in problem
        or "block" in context
        or "expected key" in problem
    ):
        return _typo_near(text, line)
    return None


def _syntax_message(exc: yaml.MarkedYAMLError, text: str, file: str) -> ConfigProblem:
    problem = (exc.problem or "").lower()
    context = (exc.context or "").lower()
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line, mark.column) if mark else (0, 0)
    opened = exc.context_mark

    if _char_at(text, line, column) == "\t" or "'\\t'" in problem:
        message = _(
            "a tab character is used here; YAML files must be indented with spaces only "
            "(replace the tab with spaces)"
        ) + _other_tabs(text, line)
    elif "quoted scalar" in context or _unclosed_quote(text, line) is not None:
        quote_at = _unclosed_quote(text, line)
        if quote_at is None and opened is not None:
            quote_at = (opened.line, opened.column)
        line, column = quote_at or (line, column)
        message = _("the quote opened at line {line}, column {column} is never closed").format(
            line=line + 1, column=column + 1
        )
    elif "mapping values are not allowed" in problem:
        message = _(
            "a ':' appears where none is allowed: check this line's indentation, "
            "or put a text that contains ': ' in quotes"
        )
    elif "could not find expected ':'" in problem:
        message = _("this line has a key without ':' after it (write it as {example})").format(
            example="`key: value`"
        )
        if opened:
            line, column = opened.line, opened.column
    elif "flow sequence" in context or "flow mapping" in context:
        closer = "]" if "sequence" in context else "}"
        message = _(
            "the list opened with '{opener}' at {where} is not closed with '{closer}', or its "
            "items are not separated by commas"
        ).format(opener="[" if closer == "]" else "{", where=_where(opened), closer=closer)
        if opened:
            line, column = opened.line, opened.column
    elif "single document" in context:
        message = _("the file holds more than one document ('---'); keep one document per file")
    elif "undefined alias" in problem:
        message = _(ALIAS_MESSAGE)
    elif "block" in context or "expected key" in problem or "'-' indicator" in problem:
        message = _(
            "the indentation of this line does not match the lines above it "
            "(the block that starts at {where})"
        ).format(where=_where(opened))
    else:
        message = _("the file is not valid YAML here: {why}").format(why=exc.problem or exc)
    return ConfigProblem(file, line + 1, column + 1, "", message)
