"""Bodies and parameters that once crashed the sandbox (a 500 HTML page where Keap answers a 400
JSON body, which a retrying client retries forever). Each is now Keap's 400, in the API version's
own error shape, and changes nothing."""

import pytest

from tests.sandbox.openapi import V1, V2_2026, validate

V1_CONTACTS = "/crm/rest/v1/contacts"
V2_CONTACTS = "/crm/rest/v2/contacts"
EMAIL = [{"email": "crash@example.test", "field": "EMAIL1"}]


def _v1_400(response) -> dict:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["message"] and body["message"]
    return body


def _v2_400(response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    validate(V2_2026, V2_CONTACTS, "get", 400, body)
    assert body["status"] == "INVALID_ARGUMENT"
    return body


def _contact_count(api) -> int:
    return api("GET", V1_CONTACTS, params={"limit": 1}).json()["count"]


def test_v2_create_with_a_custom_field_without_an_id_is_a_400(api):
    before = _contact_count(api)
    response = api("POST", V2_CONTACTS, json={"email_addresses": EMAIL, "custom_fields": [{}]})
    assert "custom_fields[0].id" in _v2_400(response)["message"]
    assert _contact_count(api) == before


def test_v1_create_with_a_custom_field_without_an_id_is_a_400(api):
    response = api(
        "POST", V1_CONTACTS, json={"email_addresses": EMAIL, "custom_fields": [{"content": "x"}]}
    )
    assert "custom_fields[0].id" in _v1_400(response)["message"]


@pytest.mark.parametrize("field", ["phone_numbers", "fax_numbers", "email_addresses"])
def test_v1_null_inside_a_number_list_is_a_400(api, field):
    before = _contact_count(api)
    body = {"email_addresses": EMAIL, field: [None]}
    assert f"{field}[0]" in _v1_400(api("POST", V1_CONTACTS, json=body))["message"]
    assert _contact_count(api) == before


@pytest.mark.parametrize("field", ["phone_numbers", "fax_numbers", "addresses"])
def test_v2_null_inside_a_number_list_is_a_400(api, field):
    before = _contact_count(api)
    body = {"email_addresses": EMAIL, field: [None]}
    assert f"{field}[0]" in _v2_400(api("POST", V2_CONTACTS, json=body))["message"]
    assert _contact_count(api) == before


def test_v1_patch_with_a_null_phone_number_is_a_400_and_changes_nothing(api):
    created = api("POST", V1_CONTACTS, json={"email_addresses": EMAIL, "job_title": "Baker"})
    url = f"{V1_CONTACTS}/{created.json()['id']}"
    _v1_400(api("PATCH", url, json={"phone_numbers": [None], "job_title": "Chef"}))
    assert api("GET", url).json()["job_title"] == "Baker"


def test_v1_goal_for_a_contact_id_past_64_bits_is_a_400(api, sandbox):
    sandbox.clear_goal_achievements()
    response = api(
        "POST",
        "/crm/rest/v1/campaigns/goals/ab123/purchased",
        json={"contact_id": 9223372036854775808},
    )
    _v1_400(response)
    assert sandbox.goal_achievements() == []


def test_v2_goal_for_a_contact_id_past_64_bits_is_a_400(api):
    response = api(
        "POST",
        "/crm/rest/v2/automations/goals/achieve",
        json={"integration": "ab123", "call_name": "purchased", "contact_id": 2**63},
    )
    assert response.status_code == 400
    validate(V2_2026, "/crm/rest/v2/automations/goals/achieve", "post", 400, response.json())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("offset", "99999999999999999999"),
        ("offset", "2147483648"),
        ("limit", "99999999999999999999"),
        ("offset", "1_000"),
        ("offset", "١٢"),
    ],
)
def test_v1_list_paging_past_32_bits_or_not_ascii_digits_is_a_400(api, name, value):
    _v1_400(api("GET", V1_CONTACTS, params={name: value}))


def test_v1_list_offset_at_the_32_bit_edge_is_an_empty_page(api):
    response = api("GET", V1_CONTACTS, params={"offset": 2**31 - 1, "limit": 5})
    assert response.status_code == 200
    validate(V1, V1_CONTACTS, "get", 200, response.json())
    assert response.json()["contacts"] == []


def test_v2_page_size_past_32_bits_is_a_400_even_when_clamping(api, sandbox):
    sandbox.set_settings(page_size_overflow="clamp")
    _v2_400(api("GET", V2_CONTACTS, params={"page_size": "99999999999999999999"}))
    assert api("GET", V2_CONTACTS, params={"page_size": 5000}).status_code == 200
