"""Finds text a person reads that is not marked for translation (tests/test_i18n.py).

A message is a string literal, an f-string or a ``"...".format()`` with words in it, given to
what shows it to a person: ``click.echo``/``secho``/``print``, a file reader's ``problem`` or
``note``, a logger's ``info``/``warning``/``error``/``exception``/``critical`` (``debug`` is for
developers), or an exception raised (``raise SomeError("...")``, click's exceptions). It is
marked when it is the argument of ``_``, ``ngettext``, ``N_``, ``pgettext`` or ``NP_`` (or the
``format`` of one).

Three kinds of text stay English on purpose, each said by a comment on a line of the call that
shows it (the ``raise``/``echo`` line or its closing parenthesis, where ``ruff format`` puts it):

* ``# i18n: internal``: an exception no person can cause, only a bug in the program's own call
  (a naive datetime given to the storage, an unknown language code after the command line
  checked it); a reason may follow in parentheses.
* ``# i18n: verbatim``: text a person copies as it is, with no words to translate (a YAML section
  to paste into a file).
* ``# i18n: stored``: why a message from the network was refused (the protocol's reasons): the
  airing log keeps it in English (the quarantine table's ``reason``), and every place that shows
  one shows it as recorded.

The comment covers that one call only.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SHOWN_BY_NAME = {"echo", "secho", "print"}
_LOG_METHODS = {"info", "warning", "error", "exception", "critical"}
_READER_METHODS = {"problem", "note"}
_MARKERS = {"_", "ngettext", "N_", "pgettext", "NP_"}
_LEFT_ENGLISH = re.compile(r"#\s*i18n:\s*(internal|verbatim|stored)\b")
_WORDS = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class Unmarked:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text[:70]!r}"


def _literal_text(node: ast.expr) -> str | None:
    """The literal words of a string expression, or ``None`` if it is not one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal_text(node.left), _literal_text(node.right)
        if left is None and right is None:
            return None
        return (left or "") + (right or "")
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return _literal_text(node.func.value)
    return None


def _message_args(call: ast.Call) -> list[ast.expr]:
    """The arguments of ``call`` a person reads, if it shows text."""
    func = call.func
    name = (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )
    if name in _SHOWN_BY_NAME:
        return call.args[:1]
    if isinstance(func, ast.Attribute) and name in _LOG_METHODS:
        return call.args[:1]
    if isinstance(func, ast.Attribute) and name in _READER_METHODS:
        return call.args[2:3]
    if name.endswith(("Error", "Exception", "Invalid", "BadParameter")) and name[:1].isupper():
        return call.args[:1] + [k.value for k in call.keywords if k.arg in ("message", "why")]
    return []


def _is_marked(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in _MARKERS:
            return True
        if isinstance(func, ast.Attribute) and func.attr == "format":
            return _is_marked(func.value)
    return False


def _left_english(source: str) -> set[int]:
    """The lines with a ``# i18n: internal``, ``verbatim`` or ``stored`` comment (a real
    comment, not text inside a string)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {
        t.start[0]
        for t in tokens
        if t.type == tokenize.COMMENT and _LEFT_ENGLISH.match(t.string) is not None
    }


def unmarked(path: Path, root: Path) -> Iterator[Unmarked]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    english = _left_english(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        end = node.end_lineno or node.lineno
        if english.intersection(range(node.lineno, end + 1)):
            continue
        for arg in _message_args(node):
            if _is_marked(arg):
                continue
            text = _literal_text(arg)
            if text is not None and _WORDS.search(text):
                yield Unmarked(str(path.relative_to(root)), arg.lineno, text)
