"""Keeps the translation catalogues current, with Babel (docs/translation.md).

    .venv/bin/python scripts/i18n.py update    extract every message, update the .po files,
                                               compile them to .mo (what ships in the package)
    .venv/bin/python scripts/i18n.py check     exit 1 when a .po or .mo is not current, or a
                                               Vietnamese translation is missing or fuzzy

Messages are what the code passes to ``_``, ``ngettext`` and ``N_`` (Babel's extractor) and the
help of every command and option (from click's tree, see ``cli/language.py``). Click's own
words (``Usage:``, ``Error:``) are in a second catalogue, ``click.po``, extracted from the
installed click.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ipfm_scheduler import i18n  # noqa: E402

PACKAGE = ROOT / "ipfm_scheduler"
TARGETS = ("vi",)
KEYWORDS = {
    "_": None,
    "ngettext": (1, 2),
    "N_": None,
    "pgettext": ((1, "c"), 2),
    "NP_": ((1, "c"), 2),
}
FIXED_DATE = datetime(2026, 12, 5)  # so that the files change only when their messages do


def _template(domain: str) -> Catalog:
    catalog = Catalog(
        domain=domain,
        project="ipfm-scheduler",
        copyright_holder="ipfm-scheduler",
        creation_date=FIXED_DATE,
        revision_date=FIXED_DATE,
        charset="utf-8",
    )
    if domain == i18n.DOMAIN:
        for filename, lineno, message, _comments, context in extract_from_dir(
            str(PACKAGE), method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            catalog.add(
                message, locations=[(f"ipfm_scheduler/{filename}", lineno)], context=context
            )
        from ipfm_scheduler.cli import cli
        from ipfm_scheduler.cli.language import help_texts
        from ipfm_scheduler.cli.receiver_main import main as receiver

        for command in (cli, receiver):
            for text, where in help_texts(command):
                catalog.add(text, locations=[(f"help: {where}", 0)])
    else:
        import click

        source = Path(click.__file__).parent
        for filename, lineno, message, _comments, _context in extract_from_dir(
            str(source), method_map=[("**.py", "python")], keywords={"_": None, "ngettext": (1, 2)}
        ):
            catalog.add(message, locations=[(f"click/{filename}", lineno)])
    return catalog


def _po_path(lang: str, domain: str) -> Path:
    return i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


def _po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, include_lineno=False, sort_output=True)
    return out.getvalue()


def _mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _updated(lang: str, domain: str, template: Catalog) -> Catalog:
    path = _po_path(lang, domain)
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang, domain=domain)
    else:
        catalog = Catalog(locale=lang, domain=domain, project="ipfm-scheduler", charset="utf-8")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    catalog.creation_date = FIXED_DATE
    catalog.revision_date = FIXED_DATE
    catalog.fuzzy = False
    return catalog


def problems(lang: str, catalog: Catalog) -> Iterable[str]:
    """Untranslated and fuzzy messages of ``catalog``."""
    for message in catalog:
        if not message.id:
            continue
        first = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            yield f"{lang}: fuzzy: {first!r}"
        elif not all(strings):
            yield f"{lang}: not translated: {first!r}"


def _compare(mode: str) -> tuple[list[str], list[str]]:
    """The files not current (rewritten when ``mode`` is update) and the messages to translate."""
    stale: list[str] = []
    missing: list[str] = []
    for domain in (i18n.DOMAIN, "click"):
        template = _template(domain)
        pot = i18n.LOCALE_DIR / f"{domain}.pot"
        for lang in TARGETS:
            catalog = _updated(lang, domain, template)
            files = {
                _po_path(lang, domain): _po_bytes(catalog),
                _po_path(lang, domain).with_suffix(".mo"): _mo_bytes(catalog),
            }
            if domain == i18n.DOMAIN:
                missing += problems(lang, catalog)
            for path, data in files.items():
                if not path.exists() or path.read_bytes() != data:
                    stale.append(str(path.relative_to(ROOT)))
                    if mode == "update":
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(data)
        data = _po_bytes(template)
        if not pot.exists() or pot.read_bytes() != data:
            stale.append(str(pot.relative_to(ROOT)))
            if mode == "update":
                pot.write_bytes(data)
    return stale, missing


def run(mode: str) -> int:
    stale, missing = _compare(mode)
    if mode == "update":
        for path in stale:
            print(f"i18n: updated {path}")
        for line in missing:
            print(f"i18n: {line}")
        print(f"i18n: {len(missing)} message(s) to translate")
        return 0
    for path in stale:
        print(f"i18n: not current: {path} (run: .venv/bin/python scripts/i18n.py update)")
    for line in missing:
        print(f"i18n: {line}")
    return 1 if stale or missing else 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("update", "check"):
        print(__doc__)
        sys.exit(2)
    sys.exit(run(sys.argv[1]))
