"""The control API adds tenants (Keap apps) for a sandbox user, with contacts and API goals."""

import pytest
import requests

from tests.sandbox.server import bearer


def test_a_new_tenant_can_be_authorized_and_has_contacts_and_goals(roomy):
    # Roomy limits: the session's sandbox may have spent this second's budget on earlier tests.
    sandbox = roomy
    created = sandbox.create_tenant(
        "zz901", name="Zephyr Yoga", users=["alex@sandbox.keap.test"], contacts=7
    )
    assert created
    tokens = sandbox.issue_tokens(app="zz901")
    assert tokens["scope"] == "full|zz901.infusionsoft.com"
    headers = bearer(tokens["access_token"])
    profile = requests.get(f"{sandbox.url}/crm/rest/v1/account/profile", headers=headers, timeout=5)
    assert profile.status_code == 200, profile.text
    assert profile.json()["name"] == "Zephyr Yoga"
    contacts = requests.get(
        f"{sandbox.url}/crm/rest/v1/contacts?limit=1", headers=headers, timeout=5
    )
    assert contacts.json()["count"] == 7
    goal = requests.post(
        f"{sandbox.url}/crm/rest/v1/campaigns/goals/zz901/purchased",
        json={"contact_id": 1}, headers=headers, timeout=5,
    )  # fmt: skip
    assert goal.status_code == 201 and len(goal.json()) == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"app_name": "Bad Name!"}, {"app_name": "zz902", "users": ["nobody@example.com"]}],
)
def test_bad_tenant_requests_are_refused_with_a_reason(sandbox, body):
    response = requests.post(f"{sandbox.url}/sandbox/api/tenants", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]
