"""XML-RPC `ContactService.add` and `DataService.query`, as legacy integrations call them: the
contacts they make are the ones REST shows, the rows they read are REST's contacts and tags in the
legacy field names, and bad input is an XML-RPC fault, never an HTTP error."""

import xmlrpc.client
from datetime import datetime

import pytest
import requests

from tests.sandbox.server import bearer

KEY = "backwards-compatability"
NAME = ["Id", "FirstName", "LastName"]


class _BearerTransport(xmlrpc.client.Transport):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def send_headers(self, connection, headers):
        connection.putheader("Authorization", f"Bearer {self.token}")
        super().send_headers(connection, headers)


@pytest.fixture
def rpc(roomy, ab123_token):
    return xmlrpc.client.ServerProxy(
        f"{roomy.url}/crm/xmlrpc/v1", transport=_BearerTransport(ab123_token)
    )


def test_add_makes_a_contact_that_rest_shows(rpc, api):
    contact_id = rpc.ContactService.add(
        KEY,
        {
            "FirstName": "Legacy",
            "LastName": "Añadido",
            "Email": "legacy.add@example.test",
            "Phone1": "503-555-0199",
            "Phone1Type": "Mobile",
            "JobTitle": "Baker",
            "CompanyID": 3,
            "_FavouriteProduct": "Sourdough",
        },
    )
    assert isinstance(contact_id, int)
    body = api("GET", f"/crm/rest/v1/contacts/{contact_id}").json()
    assert (body["given_name"], body["family_name"], body["job_title"]) == (
        "Legacy",
        "Añadido",
        "Baker",
    )
    assert body["email_addresses"] == [{"email": "legacy.add@example.test", "field": "EMAIL1"}]
    assert body["phone_numbers"][0]["type"] == "Mobile"
    assert body["company"] == {"id": 3, "company_name": "Fabrikam"}
    assert body["custom_fields"] == [{"id": 2, "content": "Sourdough"}]
    newest = api(
        "GET",
        "/crm/rest/v1/contacts",
        params={"order": "id", "limit": 1, "order_direction": "DESCENDING"},
    )
    assert newest.json()["contacts"][0]["id"] == contact_id


def test_add_needs_no_email_and_never_reuses_an_id(rpc, api):
    first = rpc.ContactService.add(KEY, {"FirstName": "Nameonly"})
    assert api("DELETE", f"/crm/rest/v1/contacts/{first}").status_code == 204
    assert rpc.ContactService.add(KEY, {"FirstName": "Nameonly"}) == first + 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"Shoe": "9"}, "[InvalidParameter]Unknown or read-only Contact field: Shoe"),
        ({"Id": 5}, "[InvalidParameter]"),
        ({"FirstName": 5}, "[InvalidParameter]FirstName must be a string"),
        ({"Email": "not-an-email"}, "[InvalidParameter]Invalid email address"),
        ({"CompanyID": 9999}, "[InvalidParameter]Company with id 9999"),
        ({"FirstName": "x" * 41}, "[InvalidParameter]"),
    ],
)
def test_add_faults_on_bad_fields_and_makes_nothing(rpc, api, data, message):
    before = api("GET", "/crm/rest/v1/contacts", params={"limit": 1}).json()["count"]
    with pytest.raises(xmlrpc.client.Fault) as info:
        rpc.ContactService.add(KEY, data)
    assert info.value.faultString.startswith(message)
    assert api("GET", "/crm/rest/v1/contacts", params={"limit": 1}).json()["count"] == before


def test_query_by_id_returns_only_the_selected_fields_that_have_values(rpc, api):
    rest = api("GET", "/crm/rest/v1/contacts", params={"limit": 1}).json()["contacts"][0]
    [row] = rpc.DataService.query(
        KEY,
        "Contact",
        10,
        0,
        {"Id": rest["id"]},
        [*NAME, "Email", "Groups", "DateCreated", "Website"],
    )
    assert row["Id"] == rest["id"] and row["FirstName"] == rest["given_name"]
    assert "Website" not in row
    assert row.get("Email") == (rest["email_addresses"] or [{}])[0].get("email")
    assert row.get("Groups", "") == ",".join(str(t) for t in rest.get("tag_ids", []))
    assert isinstance(row["DateCreated"], xmlrpc.client.DateTime)


def test_query_matches_case_insensitively_with_wildcards_and_null(rpc):
    contact_id = rpc.ContactService.add(KEY, {"FirstName": "Wildcard", "LastName": "Zyxwv"})
    rows = rpc.DataService.query(KEY, "Contact", 1000, 0, {"LastName": "zYX%"}, NAME)
    assert [row["Id"] for row in rows] == [contact_id]
    rows = rpc.DataService.query(
        KEY, "Contact", 1000, 0, {"LastName": "%xwv", "Email": "~null~"}, NAME
    )
    assert [row["Id"] for row in rows] == [contact_id]
    assert rpc.DataService.query(KEY, "Contact", 10, 0, {"LastName": "zyx"}, NAME) == []


def test_query_compares_ids_and_dates_and_pages(rpc, api):
    made = [rpc.ContactService.add(KEY, {"FirstName": f"Page{n}"}) for n in range(3)]
    rows = rpc.DataService.query(KEY, "Contact", 2, 0, {"Id": f"~>=~{made[0]}"}, ["Id"])
    assert [row["Id"] for row in rows] == made[:2]
    rows = rpc.DataService.query(KEY, "Contact", 2, 1, {"Id": f"~>=~{made[0]}"}, ["Id"])
    assert [row["Id"] for row in rows] == made[2:]
    newest_first = rpc.DataService.query(
        KEY, "Contact", 3, 0, {"Id": f"~>=~{made[0]}"}, ["Id"], "Id", False
    )
    assert [row["Id"] for row in newest_first] == made[::-1]
    rest = api("GET", f"/crm/rest/v1/contacts/{made[0]}").json()
    [row] = rpc.DataService.query(KEY, "Contact", 1, 0, {"Id": made[0]}, ["LastUpdated"])
    eastern = datetime.strptime(row["LastUpdated"].value, "%Y%m%dT%H:%M:%S")
    utc = datetime.strptime(rest["last_updated"][:19], "%Y-%m-%dT%H:%M:%S")
    # Legacy dates are Eastern time: four or five hours behind UTC.
    assert (utc - eastern).total_seconds() in (4 * 3600, 5 * 3600)
    since = eastern.strftime("%Y-%m-%d %H:%M:%S")
    recent = rpc.DataService.query(KEY, "Contact", 1000, 0, {"LastUpdated": f"~>=~{since}"}, ["Id"])
    assert set(made) <= {row["Id"] for row in recent}
    later = (eastern.replace(year=eastern.year + 1)).strftime("%Y-%m-%d")
    assert rpc.DataService.query(KEY, "Contact", 10, 0, {"LastUpdated": f"~>~{later}"}, NAME) == []


def test_query_reads_tags_and_their_categories(rpc):
    groups = rpc.DataService.query(
        KEY, "ContactGroup", 1000, 0, {}, ["Id", "GroupName", "GroupCategoryId"]
    )
    assert len(groups) == 40 and groups[0] == {
        "Id": 101,
        "GroupName": "Web form",
        "GroupCategoryId": 1,
    }
    lifecycle = rpc.DataService.query(
        KEY, "ContactGroup", 1000, 0, {"GroupCategoryId": 4}, ["GroupName"]
    )
    assert [row["GroupName"] for row in lifecycle][:3] == ["Prospect", "Trial started", "Purchased"]
    categories = rpc.DataService.query(
        KEY, "ContactGroupCategory", 10, 0, {"CategoryName": "life%"}, ["Id", "CategoryName"]
    )
    assert categories == [{"Id": 4, "CategoryName": "Lifecycle"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Invoice", 10, 0, {}, ["Id"]), "[InvalidParameter]Unknown table: Invoice"),
        (("Contact", 0, 0, {}, ["Id"]), "[InvalidParameter]limit"),
        (("Contact", 1001, 0, {}, ["Id"]), "[InvalidParameter]limit"),
        (("Contact", 10, -1, {}, ["Id"]), "[InvalidParameter]page"),
        (("Contact", 10, 0, {}, ["Shoe"]), "[InvalidParameter]Invalid field for Contact: Shoe"),
        (("Contact", 10, 0, {"Shoe": "x"}, ["Id"]), "[InvalidParameter]Invalid field"),
        (("Contact", 10, 0, {"Id": "abc"}, ["Id"]), "[InvalidParameter]Invalid number"),
        (("Contact", 10, 0, {"LastUpdated": "~>~soon"}, ["Id"]), "[InvalidParameter]Unable to"),
        (("Contact", 10, 0, {}, []), "[InvalidParameter]selectedFields"),
        (
            ("Contact", "10", 0, {}, ["Id"]),
            "No method matching arguments: java.lang.String, "
            "java.lang.String, java.lang.String, java.lang.Integer, java.util.HashMap, "
            "[Ljava.lang.Object;",
        ),
    ],
)
def test_query_faults_on_bad_arguments(rpc, args, message):
    with pytest.raises(xmlrpc.client.Fault) as info:
        rpc.DataService.query(KEY, *args)
    assert info.value.faultString.startswith(message)


def test_faults_come_over_http_200_and_tokens_still_count(roomy, ab123_token):
    body = xmlrpc.client.dumps((KEY, "Nope", 1, 0, {}, ["Id"]), "DataService.query")
    response = requests.post(
        f"{roomy.url}/crm/xmlrpc/v1", data=body, headers=bearer(ab123_token), timeout=5
    )
    assert response.status_code == 200
    assert response.headers["x-keap-tenant-id"] == "ab123.infusionsoft.com"
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(response.content)
