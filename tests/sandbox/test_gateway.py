"""The API gateway: authentication before routing, faults, and the tenant header."""

import pytest
import requests

from tests.sandbox.server import bearer

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


def test_expired_access_token_is_the_invalid_access_token_fault(sandbox, issue_tokens):
    sandbox.set_settings(access_token_seconds=30)
    try:
        tokens = issue_tokens()
    finally:
        sandbox.reset_settings()
    assert tokens["expires_in"] == 30
    url = f"{sandbox.url}{USERINFO}"
    assert requests.get(url, headers=bearer(tokens["access_token"]), timeout=5).status_code == 200
    sandbox.advance_clock(31)
    response = requests.get(url, headers=bearer(tokens["access_token"]), timeout=5)
    assert response.status_code == 401
    assert response.json() == INVALID
    assert "x-keap-product-quota-used" not in response.headers  # unauthenticated: not metered


def test_api_keys_authenticate_with_x_keap_api_key(sandbox):
    sak = sandbox.create_api_key("cd456", "sak")
    pat = sandbox.create_api_key("cd456", "pat")
    assert sak.startswith("KeapAK-") and not pat.startswith("KeapAK-")
    for key in (sak, pat):
        response = requests.get(
            f"{sandbox.url}{USERINFO}", headers={"X-Keap-API-Key": key}, timeout=5
        )
        assert response.status_code == 200
        assert response.headers["x-keap-tenant-id"] == "cd456.infusionsoft.com"
        assert response.json()["email"] == "alex@sandbox.keap.test"


def test_unknown_api_key_is_a_401_fault(sandbox):
    response = requests.get(
        f"{sandbox.url}{USERINFO}", headers={"X-Keap-API-Key": "KeapAK-nope"}, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidApiKey"
