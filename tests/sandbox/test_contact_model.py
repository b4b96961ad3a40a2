"""`GET /v1/contacts/model` and `/v2/contacts/model`: the contact custom fields a client learns
early, in each version's dialect; contacts carry values only for those fields."""

from tests.sandbox.openapi import V1, V2, V2_2026, validate


def test_v1_model_lists_the_custom_fields(api):
    response = api("GET", "/crm/rest/v1/contacts/model")
    assert response.status_code == 200
    body = response.json()
    validate(V1, "/v1/contacts/model", "get", 200, body)
    fields = {field["id"]: field for field in body["custom_fields"]}
    assert set(fields) == {2, 4, 6, 8}
    assert fields[6]["field_type"] == "Dropdown" and fields[6]["record_type"] == "CONTACT"
    assert [option["label"] for option in fields[6]["options"]] == ["Basic", "Plus", "Pro"]
    assert "custom_fields" in body["optional_properties"]


def test_v2_model_lists_the_same_fields_in_v2s_dialect(api):
    response = api("GET", "/crm/rest/v2/contacts/model")
    assert response.status_code == 200
    body = response.json()
    validate(V2_2026, "/crm/rest/v2/contacts/model", "get", 200, body)
    validate(V2, "/crm/rest/v2/contacts/model", "get", 200, body)
    v1 = api("GET", "/crm/rest/v1/contacts/model").json()["custom_fields"]
    assert [field["id"] for field in body["custom_fields"]] == [str(f["id"]) for f in v1]
    assert [field["field_type"] for field in body["custom_fields"]] == [
        "TEXT",
        "DATE",
        "DROPDOWN",
        "WHOLE_NUMBER",
    ]


def test_model_is_not_a_contact_id_on_any_method(api):
    assert api("DELETE", "/crm/rest/v1/contacts/model").status_code == 405
    assert api("PATCH", "/crm/rest/v2/contacts/model", json={}).status_code == 405


def test_contacts_take_values_for_model_fields_only(api):
    email = [{"email": "custom@example.test", "field": "EMAIL1"}]
    created = api(
        "POST",
        "/crm/rest/v2/contacts",
        json={"email_addresses": email, "custom_fields": [{"id": "2", "content": "Rye"}]},
    )
    assert created.status_code == 201
    assert created.json()["custom_fields"] == [{"id": "2", "content": "Rye"}]
    v1 = api("GET", f"/crm/rest/v1/contacts/{created.json()['id']}").json()
    assert v1["custom_fields"] == [{"id": 2, "content": "Rye"}]
    unknown = api(
        "POST",
        "/crm/rest/v1/contacts",
        json={"email_addresses": email, "custom_fields": [{"id": 3, "content": "x"}]},
    )
    assert unknown.status_code == 400 and "3" in unknown.json()["message"]
