"""The access token in the query string (`?access_token=`), as Keap's older docs show it and older
clients send it (docs/keap/API.md §2.1, §3.3): accepted on REST and XML-RPC unless the
`query_access_token` switch is off. The client here is a minimal older Keap client written for the
test: requests and xmlrpc.client, never a header."""

import xmlrpc.client
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.sandbox.openapi import V1, validate
from tests.sandbox.server import bearer


class QueryTokenClient:
    """What an older Keap integration does: OAuth for the token, then the token in every URL."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.token = ""

    def connect(self, app: str = "ab123") -> dict:
        """Send the user through Keap's consent page and trade the code for tokens."""
        redirect = self.sandbox.consent(self.sandbox.authorize_url(state="legacy"), app=app)
        assert redirect["state"] == "legacy"
        response = requests.post(
            f"{self.sandbox.url}/token",
            data={
                "grant_type": "authorization_code",
                "code": redirect["code"],
                "redirect_uri": self.sandbox.redirect_uris[0],
                "client_id": self.sandbox.client_id,
                "client_secret": self.sandbox.client_secret,
            },
            timeout=10,
        )
        response.raise_for_status()
        self.token = response.json()["access_token"]
        return response.json()

    def rest(self, method: str, path: str, params: dict | None = None, **kwargs):
        query = {**(params or {}), "access_token": self.token}
        return requests.request(
            method, f"{self.sandbox.url}/crm/rest{path}", params=query, timeout=10, **kwargs
        )

    def xmlrpc(self) -> xmlrpc.client.ServerProxy:
        query = urlencode({"access_token": self.token})
        return xmlrpc.client.ServerProxy(f"{self.sandbox.url}/crm/xmlrpc/v1?{query}")


@pytest.fixture
def client(roomy):
    client = QueryTokenClient(roomy)
    client.connect()
    return client


def test_rest_v1_client_connects_lists_creates_gets_and_achieves_a_goal(client, sandbox):
    sandbox.clear_goal_achievements()
    profile = client.rest("GET", "/v1/account/profile")
    assert profile.status_code == 200 and profile.json()["name"] == "Acme Bakery"
    assert profile.headers["x-keap-tenant-id"] == "ab123.infusionsoft.com"
    me = client.rest("GET", "/v1/oauth/connect/userinfo")
    assert me.json()["email"] == "alex@sandbox.keap.test"

    listed = client.rest("GET", "/v1/contacts", params={"limit": 3, "order": "id"})
    assert listed.status_code == 200
    validate(V1, "/v1/contacts", "get", 200, listed.json())
    assert len(listed.json()["contacts"]) == 3
    # The links a client follows do not carry its token around.
    assert "access_token" not in parse_qs(urlsplit(listed.json()["next"]).query)
    followed = client.rest(
        "GET", "/v1/contacts", params=parse_qs(urlsplit(listed.json()["next"]).query)
    )
    assert followed.status_code == 200

    created = client.rest(
        "POST",
        "/v1/contacts",
        json={
            "given_name": "Legacy",
            "email_addresses": [{"email": "legacy.query@example.test", "field": "EMAIL1"}],
        },
    )
    assert created.status_code == 201
    contact_id = created.json()["id"]
    got = client.rest("GET", f"/v1/contacts/{contact_id}")
    assert got.status_code == 200 and got.json()["given_name"] == "Legacy"

    fired = client.rest(
        "POST", "/v1/campaigns/goals/ab123/purchased", json={"contact_id": contact_id}
    )
    assert fired.status_code == 201 and len(fired.json()) == 2
    [record] = sandbox.goal_achievements()
    assert (record["contact_id"], record["api"]) == (contact_id, "v1")


def test_xmlrpc_client_lists_creates_gets_and_achieves_a_goal(client, sandbox):
    sandbox.clear_goal_achievements()
    rpc = client.xmlrpc()
    fields = ["Id", "FirstName", "Email"]
    listed = rpc.DataService.query("", "Contact", 5, 0, {}, fields)
    rest = client.rest("GET", "/v1/contacts", params={"limit": 5, "order": "id"}).json()
    assert [row["Id"] for row in listed] == [contact["id"] for contact in rest["contacts"]]

    contact_id = rpc.ContactService.add(
        "", {"FirstName": "Legacy", "Email": "legacy.rpc@example.test"}
    )
    [got] = rpc.DataService.query("", "Contact", 1, 0, {"Id": contact_id}, fields)
    assert got == {"Id": contact_id, "FirstName": "Legacy", "Email": "legacy.rpc@example.test"}
    # The same contact over REST, with the same token in the URL.
    assert client.rest("GET", f"/v1/contacts/{contact_id}").json()["given_name"] == "Legacy"

    result = rpc.FunnelService.achieveGoal("", "ab123", "trialstarted", contact_id)
    assert len(result) == 1 and result[0]["success"] is True
    [record] = sandbox.goal_achievements()
    assert (record["contact_id"], record["api"]) == (contact_id, "xmlrpc")


def test_a_bad_token_in_the_query_string_is_keaps_invalid_token_fault(sandbox):
    response = requests.get(
        f"{sandbox.url}/crm/rest/v1/contacts", params={"access_token": "nope"}, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["fault"]["detail"]["errorcode"] == (
        "keymanagement.service.invalid_access_token"
    )


def test_a_header_wins_over_the_query_string(client, sandbox):
    response = requests.get(
        f"{sandbox.url}/crm/rest/v1/contacts",
        params={"access_token": client.token, "limit": 1},
        headers={"Authorization": "Bearer not-a-token"},
        timeout=5,
    )
    assert response.status_code == 401


def test_the_switch_turns_query_tokens_off_for_rest_and_xmlrpc(client, sandbox):
    sandbox.set_settings(query_access_token=False)
    refused = client.rest("GET", "/v1/contacts", params={"limit": 1})
    assert refused.status_code == 401
    assert refused.json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidAccessToken"
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        client.xmlrpc().FunnelService.achieveGoal("", "ab123", "purchased", 1)
    assert info.value.errcode == 401
    # Headers still work, and the switch comes back on.
    headed = requests.get(
        f"{sandbox.url}/crm/rest/v1/contacts", headers=bearer(client.token), timeout=5
    )
    assert headed.status_code == 200
    sandbox.set_settings(query_access_token=True)
    assert client.rest("GET", "/v1/contacts", params={"limit": 1}).status_code == 200
