"""The contracts live in the repository: docs/protocol.md is the receiver protocol the code
speaks, nothing points outside the repository, and the documentation's links lead somewhere."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.protocol import (
    VERSION,
    canonical,
    encode_ack,
    encode_command,
    encode_status,
    parse_ack,
    parse_command,
    parse_status,
    verify,
)

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "docs" / "protocol.md"
#: spelt in two parts so that this file does not name what it looks for
OUTSIDE = ("..", "/shared"), ("shared", "/spec")
SKIPPED_DIRS = {".git", ".venv", "var", "__pycache__"}

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def repository_files() -> list[Path]:
    """Every file of the repository: tracked or about to be (git), else every file on disk."""
    if shutil.which("git") is not None and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        names = [name for name in listed.decode("utf-8").split("\0") if name]
        return [ROOT / name for name in names if (ROOT / name).is_file()]
    return [
        path
        for path in ROOT.rglob("*")
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
    ]


def names_outside(data: bytes) -> list[str]:
    """The references to files outside the repository that ``data`` contains."""
    return ["".join(parts) for parts in OUTSIDE if "".join(parts).encode() in data]


def links(text: str) -> list[str]:
    """The targets of the markdown links of ``text``, outside code blocks and code spans."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    return _INLINE_LINK.findall(prose) + _REFERENCE_LINK.findall(prose)


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its text without markup, in lower case, without
    punctuation, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    kept = "".join(ch for ch in text.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        slug = anchor(heading)
        numbered, n = slug, 0
        while numbered in found:  # a repeated heading gets -1, -2, ...
            n += 1
            numbered = f"{slug}-{n}"
        found.add(numbered)
    return found


def broken_links(page: Path) -> list[str]:
    """The links of ``page`` that lead to no file of the repository, or to no heading."""
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists() or not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (no such file)")
        elif (
            fragment
            and resolved.suffix == ".md"
            and fragment not in anchors(resolved.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target} (no such heading in {resolved.name})")
    return broken


def test_protocol_doc_names_the_version_the_code_speaks() -> None:
    assert PROTOCOL.is_file(), "docs/protocol.md, the receiver protocol, is missing"
    text = PROTOCOL.read_text(encoding="utf-8")
    assert re.search(rf"^## Version {VERSION}$", text, re.MULTILINE), (
        f"docs/protocol.md has no section '## Version {VERSION}'"
    )
    versions = text.partition("\n## Versions\n")[2].partition("\n## ")[0]
    current = re.findall(r"^\| (\d+) \| \*\*current\*\*", versions, re.MULTILINE)
    assert current == [str(VERSION)], (
        f"docs/protocol.md's Versions table gives {current} as current; the code speaks {VERSION}"
    )


def test_no_file_names_a_file_outside_the_repository() -> None:
    files = repository_files()
    assert ROOT / "README.md" in files
    assert PROTOCOL in files
    found = {
        str(path.relative_to(ROOT)): names
        for path in files
        if (names := names_outside(path.read_bytes()))
    }
    assert found == {}, "a clone of the project has no such files: link docs/ instead"


def test_markdown_links_lead_to_files_of_the_repository() -> None:
    pages = markdown_files()
    assert len(pages) > 2
    assert links(pages[0].read_text(encoding="utf-8")), "no link found in README.md"
    broken = {page.name: bad for page in pages if (bad := broken_links(page))}
    assert broken == {}


def _vectors() -> list[bytes]:
    """The lines of the code blocks of docs/protocol.md's "Test vectors" section."""
    section = PROTOCOL.read_text(encoding="utf-8").partition("\n### Test vectors\n")[2]
    section = section.partition("\n## ")[0].partition("\n### ")[0]
    blocks = re.findall(r"^```json\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    return [line.encode("utf-8") for block in blocks for line in block.splitlines()]


def test_protocol_doc_test_vectors_are_what_the_code_builds_and_reads() -> None:
    signed_play, play_body, signed_stop, ack, status = _vectors()
    key = SigningKey("cam-pha-2026", b"demo secret, not for use")
    tz = timezone(timedelta(hours=7))
    for signed in (signed_play, signed_stop):
        assert verify(signed, {key.kid: key.secret}).ok
        assert encode_command(parse_command(signed), tz, key) == signed
    unsigned = {k: v for k, v in json.loads(signed_play).items() if k != "sig"}
    assert canonical(unsigned) == play_body
    assert encode_command(parse_command(play_body), tz) == play_body
    assert encode_ack(parse_ack(ack), tz) == ack
    parsed = parse_status(status)
    assert encode_status(parsed, tz) == status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see [the protocol](protocol.md#signatures) and [x](https://example.org)", 2),
        ("`[not a link](nowhere.md)`\n```\n[nor this](nowhere.md)\n```\n", 0),
        ("[ref]: configuration.md\n", 1),
    ],
)
def test_links_finds_the_links_of_prose_only(text: str, expected: int) -> None:
    assert len(links(text)) == expected


def test_anchor_is_githubs() -> None:
    assert anchor("Benchmark: `python -m bench.dispatch_10k`") == (
        "benchmark-python--m-benchdispatch_10k"
    )
    assert anchors("# A\n## A\n```\n# B\n```\n") == {"a", "a-1"}
