"""REST v1 contacts: every operation, validated against Keap's v1 OpenAPI document."""

import re
from datetime import UTC, datetime

import pytest

from tests.sandbox.openapi import V1, validate

PATH = "/crm/rest/v1/contacts"
ITEM = "/v1/contacts/{id}"
# On the wire though not in the document (docs/keap/API.md §2.2).
WIRE_EXTRAS = {"last_updated_utc_millis", "tag_ids"}
V1_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$"


def _new(api, **fields):
    body = {"given_name": "Zoë", "family_name": "Ødegaard", **fields}
    body.setdefault("email_addresses", [{"email": "zoe@example.test", "field": "EMAIL1"}])
    response = api("POST", PATH, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_201_and_a_full_contact(api):
    body = _new(
        api,
        email_addresses=[
            {"email": "zoe.create@example.test", "field": "EMAIL1"},
            {"email": "zoe.alt@example.test", "field": "EMAIL2"},
        ],
        phone_numbers=[{"number": "503-555-0100", "field": "PHONE1", "type": "Mobile"}],
        addresses=[{"field": "BILLING", "locality": "Portland", "region": "Oregon",
                    "country_code": "USA", "zip_code": "97204"}],
        job_title="Baker",
        opt_in_reason="Signed up at the counter",
        origin={"ip_address": "203.0.113.9"},
    )  # fmt: skip
    validate(V1, PATH, "post", 201, body, extra=WIRE_EXTRAS)
    assert isinstance(body["id"], int)
    assert body["given_name"] == "Zoë"
    assert [e["email"] for e in body["email_addresses"]] == [
        "zoe.create@example.test",
        "zoe.alt@example.test",
    ]
    assert body["email_status"] == "SingleOptIn" and body["email_opted_in"] is True
    assert body["last_updated"] == body["date_created"]
    assert body["last_updated"].endswith("+0000")
    assert isinstance(body["last_updated_utc_millis"], int)
    assert body["phone_numbers"][0]["number_e164"] == "+15035550100"


def test_get_returns_the_contact(api):
    created = _new(api)
    response = api("GET", f"{PATH}/{created['id']}")
    assert response.status_code == 200
    validate(V1, ITEM, "get", 200, response.json(), extra=WIRE_EXTRAS)
    assert response.json()["id"] == created["id"]
    assert response.headers["x-keap-tenant-id"] == "ab123.infusionsoft.com"


def test_list_matches_contact_list_with_total_count_and_absolute_links(api):
    response = api("GET", PATH, params={"limit": 5, "offset": 2})
    assert response.status_code == 200
    body = response.json()
    validate(V1, PATH, "get", 200, body)
    for contact in body["contacts"]:
        validate(V1, ITEM, "get", 200, contact, extra=WIRE_EXTRAS)
    assert len(body["contacts"]) == 5
    assert body["count"] > 5  # the total, not the page size
    assert body["next"].startswith(api.base + PATH + "?")
    assert "offset=7" in body["next"] and "limit=5" in body["next"]
    assert "offset=0" in body["previous"]
    first = api("GET", PATH, params={"limit": 7}).json()["contacts"]
    assert [c["id"] for c in first[2:]] == [c["id"] for c in body["contacts"]]


def test_list_timestamps_are_keaps_v1_format(api):
    contact = api("GET", PATH, params={"limit": 1}).json()["contacts"][0]
    assert re.match(V1_TIME, contact["last_updated"])
    assert re.match(V1_TIME, contact["date_created"])


def test_list_filters_by_email_and_names(api):
    created = _new(
        api,
        given_name="Filterable",
        family_name="Person",
        email_addresses=[{"email": "Filter.Me@Example.test", "field": "EMAIL1"}],
    )
    for params in (
        {"email": "filter.me@example.test"},
        {"given_name": "Filterable"},
        {"family_name": "person", "given_name": "filterable"},
    ):
        body = api("GET", PATH, params=params).json()
        assert [c["id"] for c in body["contacts"]] == [created["id"]], params
        assert body["count"] == 1


def test_list_orders_by_each_documented_order(api):
    for order in ("id", "date_created", "last_updated", "name", "firstName", "email"):
        for direction in ("ASCENDING", "DESCENDING"):
            response = api(
                "GET", PATH, params={"order": order, "order_direction": direction, "limit": 50}
            )
            assert response.status_code == 200, (order, response.text)
    ids = [
        c["id"]
        for c in api("GET", PATH, params={"order_direction": "DESCENDING"}).json()["contacts"]
    ]
    assert ids == sorted(ids, reverse=True)
    rows = api("GET", PATH, params={"order": "last_updated", "limit": 100}).json()["contacts"]
    stamps = [c["last_updated_utc_millis"] for c in rows]
    assert stamps == sorted(stamps)


def test_since_and_until_select_on_last_updated(api, sandbox):
    before = _new(api)
    mark = sandbox.now_ms() + 5
    sandbox.advance_clock(0.05)
    after = _new(api)
    iso = datetime.fromtimestamp(mark / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    ids = [c["id"] for c in api("GET", PATH, params={"since": iso}).json()["contacts"]]
    assert after["id"] in ids and before["id"] not in ids
    ids = [c["id"] for c in api("GET", PATH, params={"until": iso}).json()["contacts"]]
    assert before["id"] in ids and after["id"] not in ids


def test_put_creates_then_updates_the_duplicate_by_email(api):
    body = {
        "given_name": "Upsert",
        "family_name": "Me",
        "email_addresses": [{"email": "upsert.me@example.test", "field": "EMAIL1"}],
        "duplicate_option": "Email",
    }
    first = api("PUT", PATH, json=body)
    assert first.status_code == 200
    validate(V1, PATH, "put", 200, first.json(), extra=WIRE_EXTRAS)
    second = api("PUT", PATH, json={**body, "job_title": "Tester"})
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["job_title"] == "Tester"
    other_name = api(
        "PUT", PATH, json={**body, "given_name": "Else", "duplicate_option": "EmailAndName"}
    )
    assert other_name.json()["id"] != first.json()["id"]


def test_patch_changes_only_the_given_fields(api):
    created = _new(api, job_title="Baker")
    response = api("PATCH", f"{PATH}/{created['id']}", json={"family_name": "Renamed"})
    assert response.status_code == 200
    validate(V1, "/v1/contacts/{contactId}", "patch", 200, response.json(), extra=WIRE_EXTRAS)
    assert response.json()["family_name"] == "Renamed"
    assert response.json()["job_title"] == "Baker"
    assert response.json()["last_updated_utc_millis"] >= created["last_updated_utc_millis"]


def test_patch_with_update_mask_applies_only_masked_fields(api):
    created = _new(api, job_title="Baker")
    response = api(
        "PATCH",
        f"{PATH}/{created['id']}",
        params={"update_mask": "job_title"},
        json={"job_title": "Chef", "given_name": "Ignored"},
    )
    assert response.json()["job_title"] == "Chef"
    assert response.json()["given_name"] == "Zoë"


def test_delete_is_204_then_the_contact_is_gone(api):
    created = _new(api)
    response = api("DELETE", f"{PATH}/{created['id']}")
    assert response.status_code == 204 and response.content == b""
    gone = api("GET", f"{PATH}/{created['id']}")
    assert gone.status_code == 404
    assert list(gone.json()) == ["message"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", PATH, {"data": "{not json", "headers": {"Content-Type": "application/json"}}),
        ("POST", PATH, {"json": ["a", "list"]}),
        ("POST", PATH, {"json": {"given_name": "X", "shoe_size": 9}}),
        ("POST", PATH, {"json": {"given_name": 5}}),
        ("POST", PATH, {"json": {"given_name": "x" * 41, "phone_numbers": []}}),
        ("POST", PATH, {"json": {"email_addresses": [{"email": "a@b.test", "field": "EMAIL9"}]}}),
        ("POST", PATH, {"json": {"given_name": "Nobody"}}),
        ("POST", PATH, {"json": {"owner_id": "12", "phone_numbers": []}}),
        ("POST", PATH, {"json": {"birthday": "yesterday", "phone_numbers": []}}),
        ("PUT", PATH, {"json": {"duplicate_option": "Phone"}}),
        ("GET", PATH, {"params": {"limit": 1001}}),
        ("GET", PATH, {"params": {"limit": "ten"}}),
        ("GET", PATH, {"params": {"offset": -1}}),
        ("GET", PATH, {"params": {"since": "last tuesday"}}),
        ("GET", PATH, {"params": {"until": "2024-13-45"}}),
        ("GET", PATH, {"params": {"order": "shoe_size"}}),
        ("GET", PATH, {"params": {"order_direction": "UP"}}),
        ("GET", f"{PATH}/abc", {}),
        ("PATCH", f"{PATH}/1", {"params": {"update_mask": "shoe_size"}, "json": {}}),
    ],
)
def test_bad_input_gets_a_keap_shaped_400(api, method, path, kwargs):
    response = api(method, path, **kwargs)
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["message"]
    assert response.json()["message"]


def test_oversized_limit_is_clamped_when_switched(api, sandbox):
    sandbox.set_settings(page_size_overflow="clamp")
    response = api("GET", PATH, params={"limit": 5000})
    assert response.status_code == 200
    assert len(response.json()["contacts"]) <= 1000


def test_nulls_switch_sends_empty_fields_as_null(api, sandbox):
    created = _new(api)
    sandbox.set_settings(v1_nulls=True)
    body = api("GET", f"{PATH}/{created['id']}").json()
    assert body["middle_name"] is None and body["ScoreValue"] is None
