"""The JSON Schema of ward files agrees with the reader: the sample files and other valid
files pass both; broken files fail both. The committed schema is what `schema` prints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
import yaml

from ipfm_scheduler.config.schema import schema_text, ward_schema

if TYPE_CHECKING:
    from tests.config.conftest import Station

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_LINE = "# yaml-language-server: $schema=../ward.schema.json"

# YAML 1.2 core schema, as editors read the files (no sexagesimal 12:30, no yes/no booleans)
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def as_editors_read_it(node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): as_editors_read_it(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [as_editors_read_it(v) for v in node.value]
    return str(node.value) if node.style else _plain_scalar(str(node.value))


def _plain_scalar(text: str) -> Any:
    if _NULL.fullmatch(text):
        return None
    if _BOOL.fullmatch(text):
        return text.lower() == "true"
    if _INT.fullmatch(text):
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def schema_errors(text: str) -> list[str]:
    instance = as_editors_read_it(yaml.compose(text, Loader=yaml.SafeLoader))
    validator = jsonschema.Draft7Validator(ward_schema(), format_checker=jsonschema.FormatChecker())
    return [e.message for e in validator.iter_errors(instance)]


def test_the_schema_is_valid_draft_07() -> None:
    jsonschema.Draft7Validator.check_schema(ward_schema())


def test_committed_schema_is_what_the_command_prints() -> None:
    committed = (ROOT / "config" / "ward.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text()
    assert json.loads(committed)["$schema"] == "http://json-schema.org/draft-07/schema#"


SAMPLES = sorted((ROOT / "config" / "wards").glob("*.yaml"))


def test_there_are_sixteen_sample_wards() -> None:
    assert len(SAMPLES) == 16


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_ward_files_point_at_the_schema_and_pass_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_LINE
    assert schema_errors(text) == []


VALID_VARIANTS = {
    "unquoted times": ('at: "06:00"', "at: 6:00"),
    "no as a boolean": ('    location: "Tổ 1, khu 2"', "    enabled: no"),
    "empty location": ('    location: "Tổ 1, khu 2"', "    location:"),
    "digits as an id": ("  - id: loa-01", "  - id: 01"),
    "volume 0": ('    at: "06:00"', '    at: "06:00"\n    volume: 0'),
    "one-off dates": (
        '    at: "06:00"\n',
        '    at: "06:00"\n  - programme: kh179\n    dates: [2027-02-03]\n    at: "06:10"\n',
    ),
    "vietnamese days": ("days: [mon, thu]", "days: [T2, t5, CN, thứ hai, Thứ 3, CHỦ NHẬT]"),
    "dd/mm/yyyy dates": (
        '    at: "06:00"\n',
        '    at: "06:00"\n  - programme: kh179\n    dates: ["03/02/2027", 4/2/2027]\n'
        '    at: "06:10"\nskip_dates: ["05/02/2027"]\n',
    ),
}


@pytest.mark.parametrize("case", VALID_VARIANTS, ids=str)
def test_valid_variants_pass_the_reader_and_the_schema(one_ward: Station, case: str) -> None:
    old, new = VALID_VARIANTS[case]
    text = one_ward.MINIMAL.replace(old, new)
    assert [p for p in one_ward.minimal(old, new) if "cam-trung" in p] == []
    assert schema_errors(text) == []


BROKEN = {
    "unknown key": ('    at: "06:00"', '    at: "06:00"\n    colour: red'),
    "missing at": ('    at: "06:00"\n', ""),
    "days not a list": ("days: [mon, thu]", "days: mon"),
    "bad ward id": ("id: cam-trung", "id: Cam Trung"),
    "hour 25": ('at: "06:00"', 'at: "25:00"'),
    "seconds": ('at: "06:00"', "at: 06:00:00"),
    "dot": ('at: "06:00"', "at: 12.30"),
    "day name": ("days: [mon, thu]", "days: [Mon]"),
    "vietnamese day 8": ("days: [mon, thu]", "days: [T8]"),
    "dd.mm.yyyy": ("airings:", 'skip_dates: ["05.02.2027"]\nairings:'),
    "no days": ("days: [mon, thu]", "days: []"),
    "days and dates": ("days: [mon, thu]", "days: [mon]\n    dates: [2027-02-03]"),
    "neither days nor dates": ("    days: [mon, thu]\n", ""),
    "volume 120": ('    at: "06:00"', '    at: "06:00"\n    volume: 120'),
    "quoted volume": ('    at: "06:00"', '    at: "06:00"\n    volume: "80"'),
    "skip date": ("airings:", "skip_dates: [tet]\nairings:"),
    "impossible date": ("airings:", "skip_dates: [2027-02-30]\nairings:"),
    "enabled maybe": ('    location: "Tổ 1, khu 2"', "    enabled: maybe"),
    "receivers not a list": ('  - id: loa-01\n    location: "Tổ 1, khu 2"', "    loa-01: x"),
    "empty name": ("name: Phường Cẩm Trung", 'name: " "'),
    "missing windows": ("windows:", "windowz:"),
}


@pytest.mark.parametrize("case", BROKEN, ids=str)
def test_broken_files_fail_the_reader_and_the_schema(one_ward: Station, case: str) -> None:
    old, new = BROKEN[case]
    text = one_ward.MINIMAL.replace(old, new)
    assert [p for p in one_ward.minimal(old, new) if "cam-trung" in p] != []
    assert schema_errors(text) != []
