"""Achieving API goals over REST v1, REST v2 and XML-RPC, and the record the sandbox keeps."""

import xmlrpc.client

import pytest

from tests.sandbox.openapi import V1, V2_2026, validate

V1_GOAL = "/crm/rest/v1/campaigns/goals/{integration}/{callName}"
V2_GOAL = "/crm/rest/v2/automations/goals/achieve"


@pytest.fixture
def contact_id(api) -> int:
    response = api(
        "POST",
        "/crm/rest/v1/contacts",
        json={
            "given_name": "Goal",
            "email_addresses": [{"email": "g@example.test", "field": "EMAIL1"}],
        },
    )
    return response.json()["id"]


@pytest.fixture(autouse=True)
def _fresh_achievements(sandbox):
    sandbox.clear_goal_achievements()


def test_v1_goal_fires_every_published_matching_goal(api, sandbox, contact_id):
    response = api(
        "POST", "/crm/rest/v1/campaigns/goals/ab123/purchased", json={"contact_id": contact_id}
    )
    assert response.status_code == 201
    body = response.json()
    validate(V1, V1_GOAL.replace("/crm/rest", ""), "post", 201, body)
    # Two published campaigns have a `purchased` goal; the draft campaign's does not fire.
    assert len(body) == 2
    assert all(result["success"] is True for result in body)
    assert len({result["campaign_id"] for result in body}) == 2
    [record] = sandbox.goal_achievements()
    assert record["tenant"] == "ab123" and record["contact_id"] == contact_id
    assert (record["integration"], record["call_name"], record["api"]) == (
        "ab123",
        "purchased",
        "v1",
    )
    assert sorted(record["goal_ids"]) == sorted(result["goal_id"] for result in body)
    assert sandbox.counts()["goals_achieved"] == 1


def test_v1_goal_that_matches_nothing_is_201_with_an_empty_array(api, sandbox, contact_id):
    response = api(
        "POST", "/crm/rest/v1/campaigns/goals/ab123/nosuchgoal", json={"contact_id": contact_id}
    )
    assert response.status_code == 201
    assert response.json() == []
    assert sandbox.goal_achievements()[0]["goal_ids"] == []


def test_v1_goal_for_an_unknown_contact_is_a_v1_error(api, sandbox):
    response = api(
        "POST", "/crm/rest/v1/campaigns/goals/ab123/purchased", json={"contact_id": 99_999_999}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["message"]
    assert sandbox.goal_achievements() == []
    sandbox.set_settings(goal_unknown_contact_status=404)
    response = api(
        "POST", "/crm/rest/v1/campaigns/goals/ab123/purchased", json={"contact_id": 99_999_999}
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body", [None, [], {"contact_id": "12"}, {"contact_id": True}, {}, {"contact_id": 1, "x": 2}]
)
def test_v1_goal_bad_bodies_are_400(api, body):
    kwargs = {"data": "{no"} if body is None else {"json": body}
    response = api("POST", "/crm/rest/v1/campaigns/goals/ab123/purchased", **kwargs)
    assert response.status_code == 400
    assert "message" in response.json()


def test_v2_goal_by_integration_and_call_name(api, sandbox, contact_id):
    response = api(
        "POST",
        V2_GOAL,
        json={"integration": "ab123", "call_name": "trialstarted", "contact_id": contact_id},
    )
    assert response.status_code == 200
    body = response.json()
    validate(V2_2026, V2_GOAL, "post", 200, body)
    [result] = body["results"]
    assert result["success"] is True and result["flow_start_results"] == []
    assert sandbox.goal_achievements()[0]["api"] == "v2"


def test_v2_goal_by_automation_and_goal_id(api, contact_id):
    fired = api(
        "POST", "/crm/rest/v1/campaigns/goals/ab123/cancelled", json={"contact_id": contact_id}
    ).json()
    [goal] = fired
    response = api(
        "POST",
        V2_GOAL,
        json={
            "automation_id": goal["campaign_id"],
            "goal_id": goal["goal_id"],
            "contact_id": contact_id,
        },
    )
    assert [r["goal_id"] for r in response.json()["results"]] == [goal["goal_id"]]


def test_v2_goal_without_match_has_empty_results(api, contact_id):
    response = api(
        "POST", V2_GOAL, json={"integration": "zz", "call_name": "x", "contact_id": contact_id}
    )
    assert response.status_code == 200 and response.json() == {"results": []}


@pytest.mark.parametrize(
    "body",
    [
        {"integration": "ab123", "call_name": "purchased"},
        {"integration": "ab123", "contact_id": 1},
        {"contact_id": 1},
        {"automation_id": 1, "contact_id": 1},
        {
            "integration": "ab123",
            "call_name": "p",
            "goal_id": 1,
            "automation_id": 1,
            "contact_id": 1,
        },
        {"integration": 5, "call_name": "p", "contact_id": 1},
    ],
)
def test_v2_goal_bad_bodies_are_400(api, body):
    response = api("POST", V2_GOAL, json=body)
    assert response.status_code == 400
    validate(V2_2026, V2_GOAL, "post", 400, response.json())


def test_v2_goal_for_unknown_contact(api):
    response = api(
        "POST",
        V2_GOAL,
        json={"integration": "ab123", "call_name": "purchased", "contact_id": 10**12},
    )
    assert response.status_code == 400
    validate(V2_2026, V2_GOAL, "post", 400, response.json())


class _BearerTransport(xmlrpc.client.Transport):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def send_headers(self, connection, headers):
        connection.putheader("Authorization", f"Bearer {self.token}")
        super().send_headers(connection, headers)


def _proxy(sandbox, token, path="/crm/xmlrpc/v1"):
    return xmlrpc.client.ServerProxy(f"{sandbox.url}{path}", transport=_BearerTransport(token))


def test_xmlrpc_achieve_goal(api, sandbox, ab123_token, contact_id):
    result = _proxy(sandbox, ab123_token).FunnelService.achieveGoal(
        "backwards-compatability", "ab123", "purchased", contact_id
    )
    assert len(result) == 2
    assert all(item["success"] is True and isinstance(item["goalId"], int) for item in result)
    [record] = sandbox.goal_achievements()
    assert record["api"] == "xmlrpc" and record["contact_id"] == contact_id


def test_xmlrpc_without_version_path_works_too(api, sandbox, ab123_token, contact_id):
    result = _proxy(sandbox, ab123_token, "/crm/xmlrpc").FunnelService.achieveGoal(
        "", "ab123", "nothing", contact_id
    )
    assert result == []


def test_xmlrpc_faults(api, sandbox, ab123_token):
    proxy = _proxy(sandbox, ab123_token)
    with pytest.raises(xmlrpc.client.Fault, match="RecordNotFound"):
        proxy.FunnelService.achieveGoal("", "ab123", "purchased", 987654321)
    with pytest.raises(xmlrpc.client.Fault, match="No such handler"):
        proxy.ContactService.load("", 1, ["Id"])
    with pytest.raises(xmlrpc.client.Fault, match="No method matching"):
        proxy.FunnelService.achieveGoal("ab123", "purchased")
    response = api("POST", "/crm/xmlrpc/v1", data=b"<not-xml", headers={"Content-Type": "text/xml"})
    assert response.status_code == 200
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(response.content)


def test_xmlrpc_needs_a_bearer_token(sandbox):
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        _proxy(sandbox, "not-a-token").FunnelService.achieveGoal("", "ab123", "purchased", 1)
    assert info.value.errcode == 401
