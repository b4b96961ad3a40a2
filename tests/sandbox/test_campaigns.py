"""REST v2 campaigns and their goals, validated against both of Keap's v2 documents; the goals
listed are the API goals the goal endpoints fire."""

import pytest

from tests.sandbox.openapi import V2, V2_2026, validate

CAMPAIGNS = "/crm/rest/v2/campaigns"


def _both(path: str, body: dict) -> None:
    validate(V2_2026, path, "get", 200, body)
    validate(V2, path, "get", 200, body)


def test_list_campaigns(api):
    response = api("GET", CAMPAIGNS)
    assert response.status_code == 200
    body = response.json()
    _both(CAMPAIGNS, body)
    assert [c["name"] for c in body["campaigns"]] == [
        "Welcome series",
        "Win-back",
        "Old promotion (draft)",
    ]
    assert [c["published_status"] for c in body["campaigns"]] == [True, True, False]
    assert all(c["id"].isdigit() and c["date_created"].endswith("Z") for c in body["campaigns"])
    assert "published_date" not in body["campaigns"][2]
    assert "next_page_token" not in body


def test_filter_order_and_pages(api):
    found = api("GET", CAMPAIGNS, params={"filter": "name==WIN"}).json()["campaigns"]
    assert [c["name"] for c in found] == ["Win-back"]
    by_name = api("GET", CAMPAIGNS, params={"order_by": "name desc"}).json()["campaigns"]
    assert [c["name"] for c in by_name] == ["Win-back", "Welcome series", "Old promotion (draft)"]
    first = api("GET", CAMPAIGNS, params={"page_size": 2}).json()
    second = api(
        "GET", CAMPAIGNS, params={"page_size": 2, "page_token": first["next_page_token"]}
    ).json()
    assert len(first["campaigns"]) == 2 and len(second["campaigns"]) == 1
    assert "next_page_token" not in second


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "status==draft"},
        {"filter": "name>x"},
        {"order_by": "size"},
        {"order_by": "name sideways"},
        {"page_token": "nope"},
        {"page_size": 1001},
    ],
)
def test_bad_list_parameters_are_400s(api, params):
    response = api("GET", CAMPAIGNS, params=params)
    assert response.status_code == 400
    validate(V2_2026, CAMPAIGNS, "get", 400, response.json())


def test_a_campaign_and_its_goals_fire_by_id(api, sandbox):
    campaigns = api("GET", CAMPAIGNS).json()["campaigns"]
    welcome = campaigns[0]
    got = api("GET", f"{CAMPAIGNS}/{welcome['id']}")
    assert got.status_code == 200 and got.json() == welcome
    _both(f"{CAMPAIGNS}/{{campaign_id}}", got.json())
    goals = api("GET", f"{CAMPAIGNS}/{welcome['id']}/goals")
    assert goals.status_code == 200
    body = goals.json()
    _both(f"{CAMPAIGNS}/{{campaign_id}}/goals", body)
    assert body["campaign_id"] == welcome["id"]
    assert [(g["name"], g["type"]) for g in body["goals"]] == [
        ("Purchased", "API"),
        ("Trial started", "API"),
    ]
    contact = api(
        "POST",
        "/crm/rest/v1/contacts",
        json={"email_addresses": [{"email": "camp@example.test", "field": "EMAIL1"}]},
    ).json()
    sandbox.clear_goal_achievements()
    fired = api(
        "POST",
        "/crm/rest/v2/automations/goals/achieve",
        json={
            "automation_id": int(welcome["id"]),
            "goal_id": int(body["goals"][1]["id"]),
            "contact_id": contact["id"],
        },
    ).json()["results"]
    assert [str(result["goal_id"]) for result in fired] == [body["goals"][1]["id"]]
    [record] = sandbox.goal_achievements()
    assert record["goal_ids"] == [int(body["goals"][1]["id"])]


def test_the_goals_v1_fires_by_call_name_are_the_listed_ones(api):
    listed = {}
    for campaign in api("GET", CAMPAIGNS).json()["campaigns"]:
        goals = api("GET", f"{CAMPAIGNS}/{campaign['id']}/goals").json()["goals"]
        listed[campaign["id"]] = {goal["id"] for goal in goals}
    contact = api(
        "POST",
        "/crm/rest/v1/contacts",
        json={"email_addresses": [{"email": "camp2@example.test", "field": "EMAIL1"}]},
    ).json()
    fired = api(
        "POST",
        "/crm/rest/v1/campaigns/goals/ab123/purchased",
        json={"contact_id": contact["id"]},
    ).json()
    assert len(fired) == 2
    for result in fired:
        assert str(result["goal_id"]) in listed[str(result["campaign_id"])]


def test_unknown_and_other_tenants_campaigns_are_404s(api, sandbox):
    other = sandbox.issue_tokens(app="cd456")["access_token"]
    theirs = api("GET", CAMPAIGNS, headers={"Authorization": f"Bearer {other}"}).json()[
        "campaigns"
    ][0]["id"]
    assert api("GET", f"{CAMPAIGNS}/{theirs}").status_code == 404
    assert api("GET", f"{CAMPAIGNS}/{theirs}/goals").status_code == 404
    missing = api("GET", f"{CAMPAIGNS}/999999")
    assert missing.status_code == 404
    validate(V2_2026, f"{CAMPAIGNS}/{{campaign_id}}", "get", 404, missing.json())
    assert api("GET", f"{CAMPAIGNS}/abc").status_code == 400
