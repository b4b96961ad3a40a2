"""`filter=contact_ids==...` (and its alias `ids`) on the v2 contact list, as Keap's documents
list it: the 2025-11 document names `contact_ids`, the 2026-08 one both."""

import itertools
from types import SimpleNamespace

import pytest

from tests.sandbox.conftest import Api
from tests.sandbox.openapi import V2, V2_2026, validate
from tests.sandbox.server import bearer

PATH = "/crm/rest/v2/contacts"
_numbers = itertools.count(1)


def new_tenant(sandbox, contacts: int) -> SimpleNamespace:
    """A fresh tenant with `contacts` seeded contacts (ids 1..n) and the app's API for it."""
    app = f"ci{next(_numbers):04d}"
    sandbox.create_tenant(app, users=["alex@sandbox.keap.test"], contacts=contacts)
    return SimpleNamespace(
        api=Api(sandbox.url, bearer(sandbox.issue_tokens(app=app)["access_token"]))
    )


@pytest.fixture(scope="module")
def pair(sandbox):
    """Two fresh tenants: `mine` with 5 contacts (ids 1-5), `theirs` with 10 (ids 1-10)."""
    return new_tenant(sandbox, contacts=5), new_tenant(sandbox, contacts=10)


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    body = response.json()
    validate(V2_2026, PATH, "get", 200, body)
    validate(V2, PATH, "get", 200, body)
    return [int(contact["id"]) for contact in body["contacts"]]


def test_contact_ids_lists_exactly_those_contacts(roomy, pair):
    mine, _ = pair
    assert _ids(mine.api("GET", PATH, params={"filter": "contact_ids==4,2"})) == [2, 4]
    assert _ids(mine.api("GET", PATH, params={"filter": "contact_ids==3"})) == [3]
    spaced = mine.api("GET", PATH, params={"filter": "contact_ids == 1, 5 ,1"})
    assert _ids(spaced) == [1, 5]


def test_ids_is_the_same_set(roomy, pair):
    mine, _ = pair
    for name in ("ids", "contact_ids"):
        response = mine.api("GET", PATH, params={"filter": f"{name}==5,1", "order_by": "id desc"})
        assert _ids(response) == [5, 1]


def test_contact_ids_combine_with_other_clauses(roomy, pair):
    mine, _ = pair
    three = mine.api("GET", f"{PATH}/3").json()
    name = f"given_name=={three['given_name']}"
    assert 3 in _ids(mine.api("GET", PATH, params={"filter": f"contact_ids==2,3;{name}"}))
    above_one = mine.api("GET", PATH, params={"filter": "contact_ids==1,2,3;contact_id>1"})
    assert _ids(above_one) == [2, 3]
    assert _ids(mine.api("GET", PATH, params={"filter": "contact_ids==1,2;ids==2,3"})) == [2]
    late = "start_update_time==2099-01-01T00:00:00.000Z"
    assert _ids(mine.api("GET", PATH, params={"filter": f"contact_ids==1,2;{late}"})) == []


def test_contact_ids_page_like_any_filter(roomy, pair):
    mine, _ = pair
    query = {"filter": "contact_ids==1,2,3,4,5", "page_size": 2}
    first = mine.api("GET", PATH, params=query)
    token = first.json()["next_page_token"]
    second = mine.api("GET", PATH, params={**query, "page_token": token})
    assert _ids(first) + _ids(second) == [1, 2, 3, 4]


def test_other_tenants_and_deleted_ids_do_not_appear(roomy, pair, sandbox):
    mine, theirs = pair
    assert _ids(theirs.api("GET", PATH, params={"filter": "contact_ids==6,7,8"})) == [6, 7, 8]
    assert _ids(mine.api("GET", PATH, params={"filter": "contact_ids==6,7,8"})) == []
    doomed = new_tenant(sandbox, contacts=3)
    assert doomed.api("DELETE", f"{PATH}/2").status_code == 204
    assert _ids(doomed.api("GET", PATH, params={"filter": "contact_ids==1,2,3"})) == [1, 3]


def test_hundreds_of_ids_are_fine(roomy, pair):
    mine, _ = pair
    many = ",".join(str(n) for n in range(1, 401))
    assert _ids(mine.api("GET", PATH, params={"filter": f"contact_ids=={many}"})) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "text",
    [
        "contact_ids==",
        "contact_ids==a",
        "contact_ids==1,,2",
        "contact_ids==1,",
        "contact_ids==-1",
        "contact_ids==1.5",
        "contact_ids==0x1",
        "contact_ids==²",
        "contact_ids==99999999999999999999",
        "contact_ids!=1",
        "contact_ids>1",
        "ids<=3",
        "contact_ids==1;ids==x",
        "contact_id==²",
        "contact_id>99999999999999999999",
    ],
)
def test_bad_contact_ids_are_a_keap_shaped_400(roomy, pair, text):
    mine, _ = pair
    response = mine.api("GET", PATH, params={"filter": text})
    assert response.status_code == 400, response.text
    validate(V2_2026, PATH, "get", 400, response.json())
    assert response.json()["status"] == "INVALID_ARGUMENT"
