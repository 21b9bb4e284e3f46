"""Vietnamese and English (ipfm_scheduler/i18n.py, cli/language.py, scripts/i18n.py): the
language chosen, the catalogues current and complete, every message marked."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipfm_scheduler import i18n
from ipfm_scheduler.cli import cli
from ipfm_scheduler.cli.language import lang_option, station_language
from tests.i18n_lint import unmarked

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    i18n.set_language("en")


def test_the_catalogues_are_current_and_every_message_has_a_vietnamese_translation() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "i18n.py"), "check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _unmarked() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "ipfm_scheduler").rglob("*.py")):
        for hit in unmarked(path, ROOT):
            found.setdefault(hit.path, []).append(str(hit))
    return found


def test_every_message_a_person_reads_is_marked_for_translation() -> None:
    """Every module: no module is let off (a new message is marked when it is written)."""
    found = _unmarked()
    assert not found, "\n".join(line for hits in found.values() for line in hits)


def test_the_lint_sees_an_unmarked_message_and_passes_a_marked_one(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import click\n"
        "from ipfm_scheduler.i18n import _\n"
        "click.echo(f'{n} files checked')\n"
        "click.echo(_('{n} files checked').format(n=1))\n"
        "log.warning('receiver %s offline', r)\n"
        "log.debug('internal detail')\n"
        "raise ConfigError(_('bad file'))\n"
        "raise ConfigError('bad file')\n"
        "r.problem(node, path, f'{x} is not a day')\n",
        encoding="utf-8",
    )
    lines = sorted(hit.line for hit in unmarked(source, tmp_path))
    assert lines == [3, 5, 8, 9]


def test_the_lint_leaves_english_only_the_call_its_comment_is_on(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "raise ValueInvalid('a naive datetime')  # i18n: internal\n"
        "raise ValueInvalid(\n"
        "    f'{what} has no time zone'\n"
        ")  # i18n: internal (a bug in the caller)\n"
        "click.echo(  # i18n: verbatim\n"
        "    'mqtt:\\n  url: x'\n"
        ")\n"
        "raise ValueInvalid('a naive datetime')\n"
        "raise ValueInvalid('text # i18n: internal')\n"
        "raise ValueInvalid('left English')  # i18n: because\n"
        "click.echo(_('a'))  # i18n: internal\n"
        "raise StorageError('database down')\n"
        "raise ProtocolError(\n"
        "    f'{what}: the payload is empty'\n"
        ")  # i18n: stored\n"
        "log.warning('%s quarantined: %s', who, why)  # i18n: stores\n",
        encoding="utf-8",
    )
    lines = sorted(hit.line for hit in unmarked(source, tmp_path))
    assert lines == [8, 9, 10, 12, 16]


def test_the_language_comes_from_option_then_environment_then_file_then_locale() -> None:
    assert i18n.choose("en", {"IPFM_LANG": "vi", "LANG": "vi_VN.UTF-8"}, "vi") == ("en", "--lang")
    assert i18n.choose(None, {"IPFM_LANG": "vi", "LANG": "en_US.UTF-8"}, "en") == (
        "vi",
        "$IPFM_LANG",
    )
    assert i18n.choose(None, {"LANG": "en_US.UTF-8"}, "vi") == ("vi", "language:")
    assert i18n.choose(None, {"LANG": "vi_VN.UTF-8"}, None) == ("vi", "locale")
    assert i18n.choose(None, {"LC_ALL": "C", "LANG": "vi_VN.UTF-8"}, None) == ("en", "default")
    assert i18n.choose(None, {"LC_MESSAGES": "vi_VN", "LANG": "en_GB"}, None) == ("vi", "locale")
    assert i18n.choose(None, {"IPFM_LANG": "fr"}, None) == ("en", "default")


def test_lang_is_found_before_or_after_the_command_name() -> None:
    assert lang_option(["--lang", "vi", "validate"]) == "vi"
    assert lang_option(["validate", "--lang=vi"]) == "vi"
    assert lang_option(["validate", "--", "--lang", "vi"]) is None
    assert lang_option(["--lang", "fr"]) is None


def test_the_station_files_language_is_read_quietly(tmp_path: Path) -> None:
    good = tmp_path / "ipfm.yaml"
    good.write_text("timezone: Asia/Ho_Chi_Minh\nlanguage: vi\n", encoding="utf-8")
    assert station_language(good) == "vi"
    broken = tmp_path / "broken.yaml"
    broken.write_text("language: [vi\n", encoding="utf-8")
    assert station_language(broken) is None
    assert station_language(tmp_path / "missing.yaml") is None


def _run(args: list[str], **env: str) -> str:
    result = CliRunner(env={"IPFM_LANG": "", "LC_ALL": "", "LC_MESSAGES": "", **env}).invoke(
        cli, args
    )
    return result.output


def test_click_speaks_vietnamese_in_help_and_usage_errors() -> None:
    assert "Cách dùng:" in _run(["--lang", "vi", "--help"])
    assert "Usage:" in _run(["--lang", "en", "--help"])
    assert "Không có tùy chọn '--bogus'" in _run(["validate", "--bogus", "--lang", "vi"])
    assert "Cách dùng:" in _run(["--help"], LANG="vi_VN.UTF-8")
    assert "Usage:" in _run(["--help"], LANG="vi_VN.UTF-8", IPFM_LANG="en")


def test_the_sample_station_file_sets_vietnamese() -> None:
    assert station_language(ROOT / "config" / "ipfm.yaml") == "vi"


def test_dates_and_weekdays_as_each_language_writes_them() -> None:
    day = date(2026, 12, 5)
    moment = datetime(2026, 12, 5, 6, 0, tzinfo=timezone(timedelta(hours=7)))
    i18n.set_language("vi")
    assert i18n.date_text(day) == "05/12/2026"
    assert i18n.weekday_name(day) == "Thứ Bảy"
    assert i18n.weekday_name(6) == "Chủ Nhật"
    assert i18n.weekday_name(0, short=True) == "T2"
    assert i18n.datetime_text(moment) == "05/12/2026 06:00 +07:00"
    i18n.set_language("en")
    assert i18n.date_text(day) == "2026-12-05"
    assert i18n.weekday_name(day) == "Saturday"
    assert i18n.datetime_text(moment, seconds=True) == "2026-12-05 06:00:00 +07:00"
    with pytest.raises(ValueError, match="unknown language"):
        i18n.set_language("fr")
