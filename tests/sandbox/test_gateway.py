"""The API gateway: authentication before routing, faults, and the tenant header."""

import time

import pytest
import requests

from tests.sandbox.server import bearer, run_sandbox

MISSING = {
    "fault": {
        "faultstring": "Invalid access token",
        "detail": {"errorcode": "oauth.v2.InvalidAccessToken"},
    }
}
INVALID = {
    "fault": {
        "faultstring": "Invalid Access Token",
        "detail": {"errorcode": "keymanagement.service.invalid_access_token"},
    }
}
USERINFO = "/crm/rest/v1/oauth/connect/userinfo"


@pytest.mark.parametrize(
    "path", [USERINFO, "/crm/rest/v2/contacts", "/crm/rest/v9/nothing-here", "/crm/xmlrpc/v1"]
)
def test_missing_authorization_header_is_the_oauth_v2_fault(sandbox, path):
    response = requests.get(f"{sandbox.url}{path}", timeout=5)
    assert response.status_code == 401
    assert response.json() == MISSING
    assert "x-keap-tenant-id" not in response.headers


@pytest.mark.parametrize("header", ["Basic abc", "Token abc", "Bearer", "Bearer   ", "abc"])
def test_non_bearer_authorization_is_the_oauth_v2_fault(sandbox, header):
    response = requests.get(
        f"{sandbox.url}{USERINFO}", headers={"Authorization": header}, timeout=5
    )
    assert response.status_code == 401
    assert response.json() == MISSING


@pytest.mark.parametrize("path", [USERINFO, "/crm/rest/v1/no/such/path"])
def test_unknown_token_is_the_invalid_access_token_fault(sandbox, path):
    response = requests.get(f"{sandbox.url}{path}", headers=bearer("not-a-token"), timeout=5)
    assert response.status_code == 401
    assert response.json() == INVALID


def test_refresh_token_is_not_an_access_token(sandbox, issue_tokens):
    tokens = issue_tokens()
    response = requests.get(
        f"{sandbox.url}{USERINFO}", headers=bearer(tokens["refresh_token"]), timeout=5
    )
    assert response.json() == INVALID


def test_authenticated_responses_name_the_tenant(sandbox, issue_tokens):
    token = issue_tokens(app="cd456")["access_token"]
    for path in [USERINFO, "/crm/rest/v2/businessProfile", "/crm/rest/v1/nope"]:
        response = requests.get(f"{sandbox.url}{path}", headers=bearer(token), timeout=5)
        assert response.headers["x-keap-tenant-id"] == "cd456.infusionsoft.com", path


def test_unknown_v1_path_with_a_valid_token_is_v1_404(sandbox, issue_tokens):
    token = issue_tokens()["access_token"]
    response = requests.get(f"{sandbox.url}/crm/rest/v1/nope", headers=bearer(token), timeout=5)
    assert response.status_code == 404
    assert list(response.json()) == ["message"]


def test_unknown_v2_path_with_a_valid_token_is_v2_404(sandbox, issue_tokens):
    token = issue_tokens()["access_token"]
    response = requests.get(f"{sandbox.url}/crm/rest/v2/nope", headers=bearer(token), timeout=5)
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 404 and body["status"] == "NOT_FOUND" and body["message"]
    assert body["details"] == []


def test_wrong_method_is_refused_after_authentication(sandbox, issue_tokens):
    token = issue_tokens()["access_token"]
    response = requests.post(f"{sandbox.url}{USERINFO}", headers=bearer(token), timeout=5)
    assert response.status_code == 405
    assert "message" in response.json()


def test_revoked_tenant_tokens_stop_working(sandbox, issue_tokens):
    token = issue_tokens(email="sam@sandbox.keap.test", app="ef789")["access_token"]
    url = f"{sandbox.url}{USERINFO}"
    assert requests.get(url, headers=bearer(token), timeout=5).status_code == 200
    assert sandbox.revoke("ef789") >= 1
    assert requests.get(url, headers=bearer(token), timeout=5).json() == INVALID


def test_expired_access_token_is_the_invalid_access_token_fault(tmp_path):
    with run_sandbox(tmp_path, env={"SANDBOX_ACCESS_TOKEN_SECONDS": "1"}) as short:
        params = short.consent(short.authorize_url(state="s"))
        tokens = requests.post(
            f"{short.url}/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": short.redirect_uris[0],
                "client_id": short.client_id,
                "client_secret": short.client_secret,
            },
            timeout=5,
        ).json()
        assert tokens["expires_in"] == 1
        time.sleep(1.5)
        response = requests.get(
            f"{short.url}{USERINFO}", headers=bearer(tokens["access_token"]), timeout=5
        )
        assert response.status_code == 401
        assert response.json() == INVALID
