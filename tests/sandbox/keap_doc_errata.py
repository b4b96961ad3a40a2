"""Where Keap's own OpenAPI documents are wrong about Keap's wire, each with its source.

The one place the sandbox's tests depart from the documents: the hand-written tests name the
erratum they rely on, and the property-based test (test_schemathesis.py) reads its documents
through `patched()`, which applies every erratum that concerns response bodies. Anything not
listed here is held to the documents as they are.
"""

import copy
import re
from dataclasses import dataclass
from typing import Any

from tests.sandbox.openapi import V1, spec


@dataclass(frozen=True)
class Erratum:
    """What a Keap document says, what Keap sends instead, and what says so."""

    document: str
    says: str
    wire: str
    source: str


# `format: date-time` is RFC 3339, whose offset has a colon (`+00:00`); v1 sends `+0000`.
V1_TIMESTAMPS = Erratum(
    document=V1,
    says="v1 timestamps (date_created, last_updated, date_applied, ...) are format date-time",
    wire="2022-09-29T00:42:42.000+0000: an ISO 8601 offset without the colon RFC 3339 needs",
    source="docs/keap/API.md §2.1 and §2.2 (real v1 list response, keap-python README)",
)
V1_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")

# The Nov-2025 documents declare no 400 for most operations (and v1 none at all for some).
UNDECLARED_400 = Erratum(
    document="keap-rest-v1-2025-11-05.json, keap-rest-v2-2025-11-05.json",
    says="bad input is not a documented outcome of most operations",
    wire='400 with {"message": ...} (v1) or {code, message, status, details} (v2)',
    source=(
        "docs/keap/API.md §5.2 (a v1 400 from PUT /v1/contacts, answered by Keap staff); the "
        "2026-08 v2 document declares the 400s"
    ),
)


class _TagResults(Erratum):
    def check(self, body: Any) -> None:
        """Assert a tag application answer is the wire's object of per-tag results, each one
        of the document's own enum values."""
        operation = spec(V1)["paths"]["/v1/contacts/{contactId}/tags"]["post"]
        item = operation["responses"]["200"]["content"]["application/json"]["schema"]["items"]
        allowed = set(item["properties"]["key"]["enum"])
        assert isinstance(body, dict) and body, body
        for tag_id, result in body.items():
            assert tag_id.isdigit() and result in allowed, (tag_id, result)


# springfox drew a Java Map<Long, String> as an array of Entry objects; Jackson writes the map
# as an object keyed by id.
TAG_RESULTS_ARE_A_MAP = _TagResults(
    document=V1,
    says='POST /v1/contacts/{contactId}/tags answers an array of Entry«long,string» {"key": ...}',
    wire='an object of per-tag results by tag id: {"101": "SUCCESS", "9999": "TAG_ID_NOT_FOUND"}',
    source=(
        "the document's own schema title Entry«long,string» (springfox's name for an entry of a "
        "Java Map<Long, String>; docs/keap/API.md §5.1 on v1's springfox artefacts), and "
        'integrators\' code that reads the answer as {"1831": "TAG_ID_NOT_FOUND"} (OBSERVED)'
    ),
)

# v1's CustomFieldValue.content is `type: object`; the real sample's content is a string.
V1_CUSTOM_FIELD_CONTENT = Erratum(
    document=V1,
    says="a custom field value's content is an object",
    wire='any JSON value, e.g. {"id": 182, "content": "Some New Content Here"}',
    source="docs/keap/API.md §2.2 (real v1 list response, keap-python README)",
)

ALL = [V1_TIMESTAMPS, UNDECLARED_400, TAG_RESULTS_ARE_A_MAP, V1_CUSTOM_FIELD_CONTENT]
V1_400 = {
    "description": "Bad Request",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            }
        }
    },
}


def patched(name: str) -> dict[str, Any]:
    """Document `name` with the errata above applied to its responses (v1 gets its 400s)."""
    document = copy.deepcopy(spec(name))
    if name != V1:
        return document
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                for response in operation["responses"].values():
                    _fix_v1(response)
                # UNDECLARED_400: v1's 400 body, as docs/keap/API.md §5.2 shows it.
                operation["responses"].setdefault("400", V1_400)
    _fix_v1(document.get("components", {}))
    tags = document["paths"]["/v1/contacts/{contactId}/tags"]["post"]["responses"]["200"]
    tags["content"]["application/json"]["schema"] = {
        "type": "object",
        "additionalProperties": {"type": "string", "enum": _tag_result_enum()},
    }
    return document


def _tag_result_enum() -> list[str]:
    operation = spec(V1)["paths"]["/v1/contacts/{contactId}/tags"]["post"]
    item = operation["responses"]["200"]["content"]["application/json"]["schema"]["items"]
    return list(item["properties"]["key"]["enum"])


def _fix_v1(node: Any) -> None:
    # V1_TIMESTAMPS: date-time becomes Keap's own v1 shape; V1_CUSTOM_FIELD_CONTENT: any value.
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            del node["format"]
            node["pattern"] = V1_TIMESTAMP.pattern
        if node.get("title") == "CustomFieldValue" or _is_custom_field_value(node):
            node["properties"]["content"] = {}
        for value in node.values():
            _fix_v1(value)
    elif isinstance(node, list):
        for value in node:
            _fix_v1(value)


def _is_custom_field_value(node: dict[str, Any]) -> bool:
    properties = node.get("properties")
    return (
        isinstance(properties, dict)
        and set(properties) == {"content", "id"}
        and properties["content"].get("type") == "object"
    )
