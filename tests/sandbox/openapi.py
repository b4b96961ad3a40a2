"""Validate sandbox responses against Keap's own OpenAPI documents (`docs/keap/openapi/`).

Schemas are referenced in place (`urn:keap-spec#/paths/...`), so every `$ref` inside them
resolves against the whole document, as Keap's generators would resolve it.
"""

import json
from functools import cache
from pathlib import Path

import yaml
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT202012

# Committed in the repository, with where each came from (docs/keap/README.md).
OPENAPI_DIR = Path(__file__).resolve().parents[2] / "docs" / "keap" / "openapi"
V1 = "keap-rest-v1-2025-11-05.json"
V2 = "keap-rest-v2-2025-11-05.json"
V2_2026 = "keap-rest-v2-2026-08.yml"


@cache
def spec(name: str) -> dict:
    path = OPENAPI_DIR / name
    if not path.exists():
        raise FileNotFoundError(
            f"Keap's OpenAPI document {path} is missing (see docs/keap/README.md)"
        )
    if name.endswith(".yml"):
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return json.loads(path.read_text())


@cache
def _registry(name: str) -> Registry:
    resource = (DRAFT202012 if name.endswith(".yml") else DRAFT4).create_resource(spec(name))
    return Registry().with_resource("urn:keap-spec", resource)


def spec_path(name: str, path: str) -> str:
    """Our path (`/crm/rest/v2/contacts`) as the document spells it."""
    path = path.removeprefix("/crm/rest")
    return f"/rest{path}" if name == V2_2026 else path


def validate(name: str, path: str, method: str, status: int, body, *, extra: set = frozenset()):
    """Validate `body` against the documented response of (path, method, status).

    Also refuses top-level properties the schema does not name (objects only), except `extra`.
    """
    documented = spec_path(name, path)
    operation = spec(name)["paths"][documented][method.lower()]
    assert str(status) in operation["responses"], f"{status} is not documented for {documented}"
    pointer = "/paths/{}/{}/responses/{}/content/application~1json/schema".format(
        documented.replace("~", "~0").replace("/", "~1"), method.lower(), status
    )
    validator_class = OAS31Validator if name.endswith(".yml") else OAS30Validator
    validator_class({"$ref": f"urn:keap-spec#{pointer}"}, registry=_registry(name)).validate(body)
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec(name)["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(body, dict) and "properties" in schema:
        unknown = set(body) - set(schema["properties"]) - set(extra)
        assert not unknown, f"not in the {name} schema: {unknown}"


def item_schema_keys(name: str, path: str, method: str, status: int, array: str) -> set[str]:
    """Property names of the items of array `array` in a documented response."""
    operation = spec(name)["paths"][spec_path(name, path)][method.lower()]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    schemas = spec(name).get("components", {}).get("schemas", {})

    def deref(node):
        return schemas[node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node

    items = deref(deref(schema)["properties"][array]["items"])
    return set(items["properties"])
