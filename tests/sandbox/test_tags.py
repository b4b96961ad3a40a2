"""REST v1 tags: a tenant's tags, a contact's tags, applying and removing them, each validated
against Keap's v1 document (except where tests/sandbox/keap_doc_errata.py says it is wrong)."""

import pytest

from tests.sandbox.keap_doc_errata import TAG_RESULTS_ARE_A_MAP
from tests.sandbox.openapi import V1, V2, V2_2026, validate

TAGS = "/crm/rest/v1/tags"
CONTACTS = "/crm/rest/v1/contacts"


@pytest.fixture
def contact_id(api) -> int:
    response = api(
        "POST",
        CONTACTS,
        json={"email_addresses": [{"email": "tagged@example.test", "field": "EMAIL1"}]},
    )
    assert response.status_code == 201
    assert "tag_ids" not in response.json() or response.json()["tag_ids"] == []
    return response.json()["id"]


def _tag_ids(api, contact_id: int) -> list[int]:
    return api("GET", f"{CONTACTS}/{contact_id}").json().get("tag_ids", [])


def test_the_tenant_has_tags_in_categories(api):
    response = api("GET", TAGS)
    assert response.status_code == 200
    body = response.json()
    validate(V1, TAGS, "get", 200, body)
    assert body["count"] == len(body["tags"]) == 40
    first = body["tags"][0]
    assert first == {
        "id": 101,
        "name": "Web form",
        "category": {"id": 1, "name": "Lead source", "description": "Lead source tags"},
    }
    assert len({tag["category"]["id"] for tag in body["tags"]}) == 5


def test_tags_filter_by_category_and_name_and_page(api):
    lifecycle = api("GET", TAGS, params={"category": 4}).json()
    assert {tag["category"]["name"] for tag in lifecycle["tags"]} == {"Lifecycle"}
    assert lifecycle["count"] == 8
    named = api("GET", TAGS, params={"name": "vip"}).json()
    assert [tag["name"] for tag in named["tags"]] == ["VIP"]
    page = api("GET", TAGS, params={"limit": 5, "offset": 10}).json()
    assert [tag["id"] for tag in page["tags"]] == [111, 112, 113, 114, 115]
    assert page["count"] == 40 and "offset=15" in page["next"]


def test_get_one_tag(api):
    response = api("GET", f"{TAGS}/125")
    assert response.status_code == 200
    validate(V1, "/v1/tags/{id}", "get", 200, response.json())
    assert response.json()["name"] == "Prospect"
    assert api("GET", f"{TAGS}/99999").status_code == 404
    assert api("GET", f"{TAGS}/abc").status_code == 400


def test_every_seeded_contact_carries_only_real_tags(api):
    real = {tag["id"] for tag in api("GET", TAGS).json()["tags"]}
    carried = set()
    for contact in api("GET", CONTACTS, params={"limit": 1000}).json()["contacts"]:
        carried |= set(contact.get("tag_ids", []))
    assert carried and carried <= real
    v2 = api("GET", "/crm/rest/v2/contacts", params={"page_size": 1000}).json()["contacts"]
    assert {int(tag) for contact in v2 for tag in contact.get("tag_ids", [])} <= real


def test_apply_answers_a_result_per_tag_and_the_contact_carries_them(api, contact_id):
    response = api("POST", f"{CONTACTS}/{contact_id}/tags", json={"tagIds": [101, 102, 9999]})
    assert response.status_code == 200
    assert response.json() == {"101": "SUCCESS", "102": "SUCCESS", "9999": "TAG_ID_NOT_FOUND"}
    TAG_RESULTS_ARE_A_MAP.check(response.json())
    assert _tag_ids(api, contact_id) == [101, 102]
    again = api("POST", f"{CONTACTS}/{contact_id}/tags", json={"tagIds": [102, 103]})
    assert again.json() == {"102": "DUPLICATE", "103": "SUCCESS"}
    assert _tag_ids(api, contact_id) == [101, 102, 103]
    v2 = api("GET", f"/crm/rest/v2/contacts/{contact_id}").json()
    validate(V2_2026, "/crm/rest/v2/contacts/{contact_id}", "get", 200, v2)
    assert v2["tag_ids"] == ["101", "102", "103"]


def test_a_contacts_tags_list_names_them_with_when_they_were_applied(api, sandbox, contact_id):
    api("POST", f"{CONTACTS}/{contact_id}/tags", json={"tagIds": [125, 109]})
    response = api("GET", f"{CONTACTS}/{contact_id}/tags")
    assert response.status_code == 200
    body = response.json()
    validate(V1, "/v1/contacts/{contactId}/tags", "get", 200, body)
    assert body["count"] == 2
    assert [item["tag"] for item in body["tags"]] == [
        {"id": 109, "name": "Customer", "category": "Customer"},
        {"id": 125, "name": "Prospect", "category": "Lifecycle"},
    ]
    assert all(item["date_applied"].endswith("+0000") for item in body["tags"])
    page = api("GET", f"{CONTACTS}/{contact_id}/tags", params={"limit": 1, "offset": 1}).json()
    assert [item["tag"]["id"] for item in page["tags"]] == [125]


def test_remove_by_ids_and_one_by_one(api, contact_id):
    api("POST", f"{CONTACTS}/{contact_id}/tags", json={"tagIds": [101, 102, 103, 104]})
    gone = api("DELETE", f"{CONTACTS}/{contact_id}/tags", params={"ids": "101,103,130"})
    assert gone.status_code == 204 and gone.content == b""
    assert _tag_ids(api, contact_id) == [102, 104]
    assert api("DELETE", f"{CONTACTS}/{contact_id}/tags/104").status_code == 204
    assert api("DELETE", f"{CONTACTS}/{contact_id}/tags/104").status_code == 204
    assert _tag_ids(api, contact_id) == [102]
    assert api("GET", f"{CONTACTS}/{contact_id}/tags").json()["count"] == 1


def test_tagging_changes_neither_last_updated_nor_anything_else(api, contact_id):
    before = api("GET", f"{CONTACTS}/{contact_id}").json()
    api("POST", f"{CONTACTS}/{contact_id}/tags", json={"tagIds": [101]})
    after = api("GET", f"{CONTACTS}/{contact_id}").json()
    assert after["last_updated"] == before["last_updated"]
    assert {**after, "tag_ids": []} == {**before, "tag_ids": []}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"tagIds": []},
        {"tagIds": "101"},
        {"tagIds": [True]},
        {"tagIds": ["101"]},
        {"tagIds": [2**63]},
        {"tagIds": [101], "extra": 1},
        {"tagIds": list(range(101, 202))},
        [101],
    ],
)
def test_bad_apply_bodies_are_400s_that_change_nothing(api, contact_id, body):
    response = api("POST", f"{CONTACTS}/{contact_id}/tags", json=body)
    assert response.status_code == 400
    assert list(response.json()) == ["message"]
    assert _tag_ids(api, contact_id) == []


@pytest.mark.parametrize("query", [{}, {"ids": ""}, {"ids": "1,x"}, {"ids": ",".join(["5"] * 101)}])
def test_bad_remove_queries_are_400s(api, contact_id, query):
    response = api("DELETE", f"{CONTACTS}/{contact_id}/tags", params=query)
    assert response.status_code == 400 and "message" in response.json()


def test_applying_to_an_unknown_contact_reports_it_per_tag(api):
    # The document gives this POST no 404, and has CONTACT_NOT_FOUND among the results.
    response = api("POST", f"{CONTACTS}/987654321/tags", json={"tagIds": [101, 9999]})
    assert response.status_code == 200
    assert response.json() == {"101": "CONTACT_NOT_FOUND", "9999": "CONTACT_NOT_FOUND"}
    TAG_RESULTS_ARE_A_MAP.check(response.json())


def test_unknown_contacts_are_404s_elsewhere(api):
    missing = f"{CONTACTS}/987654321/tags"
    assert api("GET", missing).status_code == 404
    assert api("DELETE", missing, params={"ids": "101"}).status_code == 404
    assert api("DELETE", f"{missing}/101").status_code == 404


def test_another_tenants_caller_cannot_tag_this_tenants_contact(api, sandbox, contact_id):
    # Ids are per tenant: the same number in cd456 is cd456's contact, or none at all.
    other = sandbox.issue_tokens(app="cd456")["access_token"]
    headers = {"Authorization": f"Bearer {other}"}
    api("POST", f"{CONTACTS}/{contact_id}/tags", json={"tagIds": [101]}, headers=headers)
    assert _tag_ids(api, contact_id) == []


def test_the_v2_contact_model_and_the_2025_document_agree_on_tag_ids(api, contact_id):
    api("POST", f"{CONTACTS}/{contact_id}/tags", json={"tagIds": [140]})
    body = api("GET", f"/crm/rest/v2/contacts/{contact_id}").json()
    validate(V2, "/crm/rest/v2/contacts/{contact_id}", "get", 200, body)
    assert body["tag_ids"] == ["140"]
