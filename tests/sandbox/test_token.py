"""The token endpoint: code exchange, client authentication, errors, refresh rotation."""

import requests

from tests.sandbox.server import bearer

JSON_ERROR = {
    "error": "invalid_request",
    "error_description": "response_type or grant_type is required",
}
INVALID_CODE = {"error": "invalid_grant", "error_description": "Invalid authorization code"}
INVALID_REFRESH = {"error": "invalid_request", "error_description": "Invalid Refresh Token"}


def _code(sandbox, app: str = "ab123") -> str:
    return sandbox.consent(sandbox.authorize_url(state="s"), app=app)["code"]


def _exchange(sandbox, code: str, *, basic: bool = False, **overrides) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": sandbox.redirect_uris[0],
    }
    auth = None
    if basic:
        auth = (sandbox.client_id, sandbox.client_secret)
    else:
        data.update(client_id=sandbox.client_id, client_secret=sandbox.client_secret)
    data.update(overrides)
    return requests.post(f"{sandbox.url}/token", data=data, auth=auth, timeout=5)


def _refresh(sandbox, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(sandbox.client_id, sandbox.client_secret),
        timeout=5,
    )


def test_code_exchange_with_body_credentials_returns_keaps_token_json(sandbox):
    response = _exchange(sandbox, _code(sandbox, "cd456"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    assert body["scope"] == "full|cd456.infusionsoft.com"
    assert body["access_token"] != body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_code_exchange_with_basic_credentials_works(sandbox):
    response = _exchange(sandbox, _code(sandbox), basic=True)
    assert response.status_code == 200
    assert response.json()["scope"] == "full|ab123.infusionsoft.com"


def test_json_body_gets_keaps_exact_400(sandbox):
    response = requests.post(
        f"{sandbox.url}/token",
        json={"grant_type": "authorization_code", "code": "x"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json() == JSON_ERROR


def test_form_without_grant_type_gets_the_same_400(sandbox):
    response = requests.post(f"{sandbox.url}/token", data={"code": "x"}, timeout=5)
    assert response.status_code == 400
    assert response.json() == JSON_ERROR


def test_code_is_single_use(sandbox):
    code = _code(sandbox)
    assert _exchange(sandbox, code).status_code == 200
    again = _exchange(sandbox, code)
    assert again.status_code == 400
    assert again.json() == INVALID_CODE


def test_reusing_a_code_revokes_the_tokens_it_produced(sandbox):
    code = _code(sandbox)
    tokens = _exchange(sandbox, code).json()
    userinfo = f"{sandbox.url}/crm/rest/v1/oauth/connect/userinfo"
    assert requests.get(userinfo, headers=bearer(tokens["access_token"]), timeout=5).ok
    assert _exchange(sandbox, code).status_code == 400
    assert (
        requests.get(userinfo, headers=bearer(tokens["access_token"]), timeout=5).status_code == 401
    )
    assert _refresh(sandbox, tokens["refresh_token"]).json() == INVALID_REFRESH


def test_unknown_code_is_invalid_grant(sandbox):
    response = _exchange(sandbox, "no-such-code")
    assert response.status_code == 400
    assert response.json() == INVALID_CODE


def test_redirect_uri_must_match_the_authorize_request(sandbox):
    code = _code(sandbox)
    response = _exchange(sandbox, code, redirect_uri="http://127.0.0.1:9/other")
    assert response.status_code == 400
    assert response.json() == INVALID_CODE
    # A mismatch does not burn the code for its rightful owner.
    assert _exchange(sandbox, code).status_code == 200


def test_missing_code_is_invalid_request(sandbox):
    response = _exchange(sandbox, "")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_wrong_client_secret_is_401_invalid_client(sandbox):
    code = _code(sandbox)
    response = _exchange(sandbox, code, client_secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert _exchange(sandbox, code).status_code == 200


def test_wrong_basic_credentials_are_401_invalid_client(sandbox):
    response = requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "authorization_code", "code": _code(sandbox), "redirect_uri": "x"},
        auth=(sandbox.client_id, "wrong"),
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_client_id_is_401_invalid_client(sandbox):
    response = _exchange(sandbox, _code(sandbox), client_id="someone-else")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_refresh_rotates_and_the_old_refresh_token_dies(sandbox, issue_tokens):
    first = issue_tokens()
    response = _refresh(sandbox, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "full|ab123.infusionsoft.com"
    assert response.headers["Cache-Control"] == "no-store"
    reused = _refresh(sandbox, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json() == INVALID_REFRESH
    assert _refresh(sandbox, second["refresh_token"]).status_code == 200


def test_refresh_with_wrong_basic_credentials_is_401(sandbox, issue_tokens):
    tokens = issue_tokens()
    response = requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(sandbox.client_id, "wrong"),
        timeout=5,
    )
    assert response.status_code == 401
    assert _refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_unsupported_grant_type_is_refused(sandbox):
    response = requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_refresh_keeps_the_old_access_token_alive_by_default(sandbox, issue_tokens):
    first = issue_tokens()
    assert _refresh(sandbox, first["refresh_token"]).status_code == 200
    response = requests.get(
        f"{sandbox.url}/crm/rest/v1/oauth/connect/userinfo",
        headers=bearer(first["access_token"]),
        timeout=5,
    )
    assert response.status_code == 200


def test_switches_pick_the_legacy_error_and_access_token_revocation(sandbox, issue_tokens):
    first = issue_tokens()
    sandbox.set_settings(refresh_error="invalid_grant", refresh_revokes_access_token=True)
    try:
        second = _refresh(sandbox, first["refresh_token"])
        reused = _refresh(sandbox, first["refresh_token"])
    finally:
        sandbox.reset_settings()
    assert second.status_code == 200
    assert second.headers["Cache-Control"] == "no-store"
    assert reused.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    response = requests.get(
        f"{sandbox.url}/crm/rest/v1/oauth/connect/userinfo",
        headers=bearer(first["access_token"]),
        timeout=5,
    )
    assert response.status_code == 401


def test_lifetimes_are_switchable_and_refresh_tokens_expire(private_sandbox):
    server = private_sandbox
    server.set_settings(access_token_seconds=3600, refresh_token_seconds=7200)
    tokens = server.issue_tokens()
    assert tokens["expires_in"] == 3600
    server.advance_clock(7201)
    expired = _refresh(server, tokens["refresh_token"])
    assert expired.status_code == 400
    assert expired.json() == INVALID_REFRESH


def test_default_refresh_token_lives_45_days(private_sandbox):
    server = private_sandbox
    server.reset_settings()
    tokens = server.issue_tokens()
    assert tokens["expires_in"] == 86400
    server.advance_clock(44 * 86400)
    refreshed = _refresh(server, tokens["refresh_token"])
    assert refreshed.status_code == 200
    server.advance_clock(45 * 86400 + 1)
    assert _refresh(server, refreshed.json()["refresh_token"]).status_code == 400
