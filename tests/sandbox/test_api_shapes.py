"""userinfo and profile bodies checked against Keap's own OpenAPI documents."""

import pytest
import requests
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT202012

from tests.sandbox.openapi import V1, V2, V2_2026
from tests.sandbox.openapi import spec as _spec
from tests.sandbox.server import bearer


def _response_schema(name: str, path: str) -> dict:
    return _spec(name)["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]


def _validate(name: str, path: str, body: dict, *, strict: bool = True) -> None:
    """Validate against the operation's 200 schema; strict also forbids unknown top-level keys."""
    spec = _spec(name)
    oas31 = name.endswith(".yml")
    resource = (DRAFT202012 if oas31 else DRAFT4).create_resource(spec)
    registry = Registry().with_resource("urn:keap-spec", resource)
    pointer = (
        "/paths/" + path.replace("/", "~1") + "/get/responses/200/content/application~1json/schema"
    )
    validator_class = OAS31Validator if oas31 else OAS30Validator
    validator_class({"$ref": f"urn:keap-spec#{pointer}"}, registry=registry).validate(body)
    if strict:
        schema = _response_schema(name, path)
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert set(body) <= set(schema["properties"]), set(body) - set(schema["properties"])


def _get(sandbox, token: str, path: str) -> dict:
    response = requests.get(f"{sandbox.url}/crm/rest{path}", headers=bearer(token), timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_validation_catches_a_wrong_type():
    with pytest.raises(Exception, match="global_user_id"):
        _validate(
            V1,
            "/v1/oauth/connect/userinfo",
            {
                "email": "a",
                "family_name": "b",
                "given_name": "c",
                "global_user_id": "not-int",
                "infusionsoft_id": "d",
                "sub": "e",
            },
        )


def test_userinfo_v1_matches_user_info_dto(sandbox, issue_tokens):
    body = _get(sandbox, issue_tokens()["access_token"], "/v1/oauth/connect/userinfo")
    _validate(V1, "/v1/oauth/connect/userinfo", body)
    assert body["email"] == "alex@sandbox.keap.test"
    assert body["given_name"] == "Alex"
    assert isinstance(body["global_user_id"], int)
    assert isinstance(body["infusionsoft_id"], str)


def test_userinfo_v2_matches_both_v2_documents(sandbox, issue_tokens):
    token = issue_tokens(email="sam@sandbox.keap.test", app="ef789")["access_token"]
    body = _get(sandbox, token, "/v2/oauth/connect/userinfo")
    _validate(V2_2026, "/rest/v2/oauth/connect/userinfo", body)
    # The 2025 document predates tenant_id; everything else must still fit it.
    _validate(V2, "/v2/oauth/connect/userinfo", body, strict=False)
    assert body["tenant_id"] == "ef789"
    assert body["email"] == "sam@sandbox.keap.test"
    assert body["middle_name"] == "Jo"
    assert isinstance(body["id"], str)


def test_v1_and_v2_userinfo_describe_the_same_person(sandbox, issue_tokens):
    token = issue_tokens()["access_token"]
    v1 = _get(sandbox, token, "/v1/oauth/connect/userinfo")
    v2 = _get(sandbox, token, "/v2/oauth/connect/userinfo")
    assert v2["id"] == str(v1["global_user_id"])
    assert v2["keap_id"] == v1["infusionsoft_id"]
    assert (v2["given_name"], v2["family_name"]) == (v1["given_name"], v1["family_name"])


def test_account_profile_v1_matches_account_profile(sandbox, issue_tokens):
    body = _get(sandbox, issue_tokens(app="cd456")["access_token"], "/v1/account/profile")
    _validate(V1, "/v1/account/profile", body)
    assert body["name"] == "Cedar Dental"
    assert body["currency_code"] == "USD"
    assert body["address"]["field"] == "BILLING"
    assert body["address"]["zip_code"] == "78731"
    assert "postal_code" not in body["address"]


def test_business_profile_v2_matches_both_v2_documents(sandbox, issue_tokens):
    token = issue_tokens(email="sam@sandbox.keap.test", app="ef789")["access_token"]
    body = _get(sandbox, token, "/v2/businessProfile")
    _validate(V2_2026, "/rest/v2/businessProfile", body)
    _validate(V2, "/v2/businessProfile", body)
    assert body["name"] == "Elm Fitness"
    assert body["currency_code"] == "CAD"
    assert body["address"]["country_code"] == "CAN"
    assert body["address"]["postal_code"] == "M5G 1H1"
    assert body["time_zone"] == "America/Toronto"
