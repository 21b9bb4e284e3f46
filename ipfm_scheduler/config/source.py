"""Reading a configuration file's text: UTF-8 (a BOM allowed), its sha256, and the guards of
the wards folder (only regular files of a sane size, no link out of the folder), every refusal a
located problem that shows nothing of the file's content."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from ipfm_scheduler.config.nodes import Node, compose
from ipfm_scheduler.config.reader import FileReader
from ipfm_scheduler.errors import ConfigProblem
from ipfm_scheduler.i18n import _

#: a ward file larger than this is not read (a real one is a few KB; 1 MB is a mistake or worse)
MAX_WARD_BYTES = 1024 * 1024


@dataclass
class FileText:
    text: str
    sha256: str


def read_tree(path: Path, r: FileReader) -> tuple[FileText | None, Node | None]:
    """The file's text and its YAML node tree (``None`` for an empty file), read only as far as
    it can be without a problem: what stops it is in ``r``."""
    text = read_text(path, r)
    root = None
    if text is not None and not r.problems:
        root, syntax = compose(text.text, r.file)
        r.problems.extend(syntax)
    return text, root


def read_text(path: Path, r: FileReader, *, inside: Path | None = None) -> FileText | None:
    """The file's text (UTF-8, a BOM allowed) and the sha256 of its bytes. With ``inside``
    (the wards folder), a file is read only if it is a regular file of at most
    ``MAX_WARD_BYTES``, and a link only if it leads to one inside that folder; else it is a
    located problem and nothing of its content is read or shown."""
    if inside is not None and (refusal := _unreadable_ward(path, inside)):
        r.problem(None, "", refusal)
        return None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        r.problem(None, "", _("the file {path} does not exist").format(path=path))
        return None
    except OSError as exc:
        r.problem(
            None, "", _("the file {path} cannot be read: {why}").format(path=path, why=exc.strerror)
        )
        return None
    digest = hashlib.sha256(raw).hexdigest()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:  # UTF-16, or not text
        r.problems.append(
            ConfigProblem(
                r.file,
                0,
                0,
                "",
                _(
                    "the file is not UTF-8 text (it looks saved as UTF-16 or as a document, not "
                    "as plain text): save it as UTF-8 text in the editor"
                ),
            )
        )
        return FileText(raw.decode("utf-8", errors="replace"), digest)
    try:
        return FileText(raw.decode("utf-8-sig"), digest)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode(errors="replace"))
        r.problems.append(
            ConfigProblem(
                r.file,
                line,
                column + 1,
                "",
                _("the file is not UTF-8 text: save it as UTF-8 in the editor"),
            )
        )
        return FileText(raw.decode("utf-8", errors="replace"), digest)


def _unreadable_ward(path: Path, folder: Path) -> str:
    """Why the entry ``path`` of the wards folder is not read as a ward file ("" if it is)."""
    try:
        target = path.resolve(strict=True)
        info = target.stat()
    except OSError as exc:  # a dangling link, a file gone meanwhile
        return _("the file {path} cannot be read: {why}").format(
            path=path.name, why=exc.strerror or exc
        )
    if path.is_symlink() and not target.is_relative_to(folder.resolve()):
        return _(
            "{name} is a link to a file outside the wards folder: not read (copy the ward file "
            "itself into the folder)"
        ).format(name=path.name)
    if stat.S_ISDIR(info.st_mode):
        return _("{name} is a folder, not a ward file").format(name=path.name)
    if not stat.S_ISREG(info.st_mode):
        return _("{name} is not a regular file (a pipe or a device?): not read").format(
            name=path.name
        )
    if info.st_size > MAX_WARD_BYTES:
        return _("{name} is {size} bytes, more than a ward file may be ({limit}): not read").format(
            name=path.name, size=f"{info.st_size:,}", limit=f"{MAX_WARD_BYTES:,}"
        )
    return ""
