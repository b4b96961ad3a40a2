"""Keap never gives a contact id out twice: a deleted contact's id is not the next new contact's,
whichever way contacts come and go (REST v1 and v2, the web-app edits the sandbox plays, seeding)."""

import itertools

import pytest

from tests.sandbox.conftest import Api
from tests.sandbox.server import bearer

_numbers = itertools.count(1)


@pytest.fixture
def tenant(roomy):
    """A fresh tenant with contacts 1..5, and the developer app's API for it."""
    app = f"ic{next(_numbers):04d}"
    roomy.create_tenant(app, users=["alex@sandbox.keap.test"], contacts=5)
    api = Api(roomy.url, bearer(roomy.issue_tokens(app=app)["access_token"]))
    api.app = app
    return api


def _email(n: int) -> list[dict]:
    return [{"email": f"counter{n}@example.test", "field": "EMAIL1"}]


def _create_v1(api, n: int) -> int:
    response = api("POST", "/crm/rest/v1/contacts", json={"email_addresses": _email(n)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _highest(api) -> int:
    body = api("GET", "/crm/rest/v1/contacts", params={"order": "id", "limit": 1000}).json()
    return max(contact["id"] for contact in body["contacts"])


def test_deleting_the_highest_contact_never_gives_its_id_back(tenant):
    assert _highest(tenant) == 5
    assert tenant("DELETE", "/crm/rest/v1/contacts/5").status_code == 204
    assert _create_v1(tenant, 1) == 6

    assert tenant("DELETE", "/crm/rest/v2/contacts/6").status_code == 204
    created = tenant("POST", "/crm/rest/v2/contacts", json={"email_addresses": _email(2)})
    assert created.status_code == 201 and created.json()["id"] == "7"

    assert tenant("DELETE", "/crm/rest/v1/contacts/7").status_code == 204
    upserted = tenant("PUT", "/crm/rest/v1/contacts", json={"email_addresses": _email(3)})
    assert upserted.status_code == 200 and upserted.json()["id"] == 8
    assert _highest(tenant) == 8


def test_no_id_comes_back_across_many_deletes_and_creates(tenant):
    issued = {1, 2, 3, 4, 5}
    for n in range(10):
        new_id = _create_v1(tenant, 100 + n)
        assert new_id not in issued
        issued.add(new_id)
        assert tenant("DELETE", f"/crm/rest/v1/contacts/{max(issued)}").status_code == 204


def test_web_app_edits_never_add_a_deleted_id(tenant, roomy):
    assert roomy.delete_contacts(tenant.app, ids=[5]) == [5]
    played = roomy.play(tenant.app, adds=2)
    assert played["added"] == [6, 7]
    assert roomy.delete_contacts(tenant.app, ids=[7]) == [7]
    assert _create_v1(tenant, 1) == 8


def test_seeding_fewer_contacts_does_not_lower_the_counter(tenant, roomy):
    assert _create_v1(tenant, 1) == 6
    roomy.seed_contacts(tenant.app, 3)
    assert _highest(tenant) == 3
    assert _create_v1(tenant, 2) == 7
    roomy.seed_contacts(tenant.app, 20)
    assert _create_v1(tenant, 3) == 21
