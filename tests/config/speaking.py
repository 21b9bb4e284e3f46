"""Running `validate` and `plan` as a user does, in a chosen language (for the language tests
of tests/config/test_config_languages*.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from ipfm_scheduler.cli import cli, main
from ipfm_scheduler.cli.language import speak


@dataclass
class Run:
    code: int
    out: str
    err: str


def speak_english() -> None:
    """English again, in our words and click's (after a test that ran in Vietnamese)."""
    speak(cli, ["--lang", "en"], {})


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``ipfm-scheduler ARGS`` through the program's own main(), its output captured."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return Run(int(done.value.code or 0), captured.out, captured.err)


def located(problem: dict[str, Any]) -> str:
    """How a problem of ``validate --format json`` starts its line in the text output:
    ``file:line:column: path: `` (the part that is the same in every language)."""
    where = problem["file"]
    if problem["line"] > 0:
        where += f":{problem['line']}:{problem['column']}"
    return f"{where}: {problem['path']}: " if problem["path"] else f"{where}: "


def problems_of(json_text: str) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = json.loads(json_text)["problems"]
    return problems


def assert_translated(english: Run, vietnamese: Run, problems: list[dict[str, Any]]) -> None:
    """Each problem (English, from JSON) is in the English output as it is, and in the
    Vietnamese output at the same file:line:column and key path, with none of its English."""
    assert problems, english.out
    en_lines, vi_lines = english.out.splitlines(), vietnamese.out.splitlines()
    for problem in problems:
        prefix = located(problem)
        assert prefix + problem["message"] in en_lines, (prefix, english.out)
        assert problem["message"] not in vietnamese.out, vietnamese.out
        ours = [line for line in vi_lines if line.startswith(prefix)]
        theirs = [line for line in en_lines if line.startswith(prefix)]
        assert len(ours) == len(theirs), (prefix, vietnamese.out)
        left = english_left(problem["message"], [line[len(prefix) :] for line in ours])
        assert not left, (left, ours)


#: what stays as written in every language: quoted values and `commands`
_VERBATIM = re.compile(r"`[^`]*`|\"[^\"]*\"")
#: words of a sentence, one space apart (not paths, ids, file or key names: a-z only)
_PHRASE = re.compile(r"(?<![\w/.+:@-])[a-z]+(?: [a-z]+)+(?![\w/.+:@-])")


def _runs(text: str, run_of: int) -> set[str]:
    runs = set()
    for phrase in _PHRASE.findall(_VERBATIM.sub(" | ", text)):
        words = phrase.split()
        runs.update(" ".join(words[i : i + run_of]) for i in range(len(words) - run_of + 1))
    return runs


def english_left(english: str, translations: list[str], run_of: int = 3) -> list[str]:
    """Runs of ``run_of`` English words of ``english`` that are in every one of
    ``translations``: a part of the sentence left untranslated (a hint, a clause)."""
    found = [_runs(text, run_of) for text in translations]
    return sorted(run for run in _runs(english, run_of) if found and all(run in f for f in found))
