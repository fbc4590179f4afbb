"""The wire's JSON Schema: the one source the page's protocol types and frame validator are generated from.

`make protocol` writes it to web/src/generated/protocol.schema.json (`python -m talkbox.ui.schema`) and
web/scripts/protocol.mjs turns it into TypeScript; tests/component/test_wire_schema.py fails while the
committed files are stale. docs/protocol.md stays the prose; this is what the page's code is held to.
"""

from __future__ import annotations

import json
import sys
from typing import Any, get_args

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import CoreSchema, core_schema

from talkbox.events.models import (
    ConferenceEndReason,
    ConferenceStatus,
    LegEndReason,
    LegStatus,
    RecordingKind,
    RefusalCode,
    TerminalLegStatus,
)
from talkbox.ui.protocol import CallOutcome, CloseCode, ErrorCode, PresenceStatus, page_message, server_message

# The words the page needs by name, beside the messages that use them: each becomes a list and a type there.
VOCABULARIES: dict[str, Any] = {
    "LegStatus": LegStatus,
    "TerminalLegStatus": TerminalLegStatus,
    "LegEndReason": LegEndReason,
    "ConferenceStatus": ConferenceStatus,
    "ConferenceEndReason": ConferenceEndReason,
    "PresenceStatus": PresenceStatus,
    "CallOutcome": CallOutcome,
    "RefusalCode": RefusalCode,
    "ErrorCode": ErrorCode,
    "RecordingKind": RecordingKind,
}


class _WireJsonSchema(GenerateJsonSchema):
    """Pydantic's schema, as the page needs it: the messages' own names only, and what the server really sends."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        # A field's title would become a TypeScript type of its own (`ConferenceId = string`).
        return False

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        # model_dump_json writes defaults too, so every field is in every frame the server sends.
        return self.mode == "serialization" or super().field_is_required(field, total)


def wire_schema() -> dict[str, Any]:
    """Both directions of the websocket, the vocabularies and the close codes, as one JSON Schema document."""
    inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = [
        ("PageMessage", "validation", page_message),
        ("ServerMessage", "serialization", server_message),
    ]
    unions, schema = TypeAdapter.json_schemas(inputs, ref_template="#/$defs/{model}", schema_generator=_WireJsonSchema)
    definitions: dict[str, Any] = dict(schema.get("$defs", {}))
    for (name, _mode), union in unions.items():
        definitions[name] = union
    for name, words in VOCABULARIES.items():
        definitions[name] = {"type": "string", "enum": list(get_args(words))}
    definitions["CloseCode"] = _close_codes()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Written by `make protocol` (python -m talkbox.ui.schema) from talkbox/ui/protocol.py; do not edit",
        "$defs": dict(sorted(definitions.items())),
    }


def _close_codes() -> dict[str, Any]:
    return {
        "type": "integer",
        "oneOf": [{"const": int(code), "title": code.name} for code in CloseCode],
    }


def main() -> None:
    sys.stdout.write(json.dumps(wire_schema(), indent=2) + "\n")


if __name__ == "__main__":
    main()
