"""The JSON Schema (draft-07) of a ward file, built from the very shapes the reader uses.

Editors that speak the YAML language server protocol (VS Code with the YAML extension, and
others) read the ``# yaml-language-server: $schema=../ward.schema.json`` line at the top of
every ward file and underline mistakes as staff type. The schema cannot check everything the
reader checks (windows that fit the audio, the weekly minimum, programmes of the station, the
file name): `ipfm-scheduler validate` is the final word.
"""

from __future__ import annotations

import json
from typing import Any

from ipfm_scheduler.config.reader import Key, Kind, Shape
from ipfm_scheduler.config.ward_file import WARD

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def kind_schema(kind: Kind) -> dict[str, Any]:
    if kind.shape is not None:
        return shape_schema(kind.shape)
    schema = dict(kind.schema)
    if kind.items is not None:
        schema["items"] = kind_schema(kind.items)
    if kind.values is not None:
        schema["additionalProperties"] = kind_schema(kind.values)
    return schema


def key_schema(key: Key) -> dict[str, Any]:
    schema = kind_schema(key.kind)
    if not key.required:  # an empty value means "the default"
        if list(schema) == ["anyOf"]:
            schema = {"anyOf": [*schema["anyOf"], {"type": "null"}]}
        else:
            schema = {"anyOf": [schema, {"type": "null"}]}
    return {"description": key.help, **schema}


def shape_schema(shape: Shape) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key.name: key_schema(key) for key in shape.keys},
        "additionalProperties": False,
    }
    required = [key.name for key in shape.keys if key.required]
    if required:
        schema["required"] = required
    schema.update(shape.schema_extra)
    return schema


def ward_schema() -> dict[str, Any]:
    """The schema of ``config/wards/<ward-id>.yaml``."""
    return {
        "$schema": DRAFT_07,
        "title": "IPFM ward file",
        "description": (
            "One ward or commune of the IPFM station: its loudspeakers (receivers), when they "
            "may sound (windows) and what it airs (airings). See docs/configuration.md; run "
            "`ipfm-scheduler validate` for the checks a schema cannot make."
        ),
        **shape_schema(WARD),
    }


def schema_text() -> str:
    """The schema as committed in ``config/ward.schema.json``."""
    return json.dumps(ward_schema(), indent=2, ensure_ascii=False) + "\n"
