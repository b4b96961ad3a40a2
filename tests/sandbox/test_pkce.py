"""PKCE at the sandbox: ignored by default, as Keap ignores it; S256 enforced behind `enforce_pkce`."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

WRONG_VERIFIER = {
    "error": "invalid_grant",
    "error_description": "code_verifier does not match the code_challenge",
}
MISSING_VERIFIER = {"error": "invalid_grant", "error_description": "code_verifier is required"}


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _code(sandbox, challenge: str | None, method: str = "S256") -> str:
    params = {"state": "st"}
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": method}
    return sandbox.consent(sandbox.authorize_url(**params))["code"]


def _exchange(sandbox, code: str, verifier: str | None) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": sandbox.redirect_uris[0],
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(f"{sandbox.url}/token", data=data, timeout=5)


@pytest.fixture
def enforcing(sandbox):
    sandbox.set_settings(enforce_pkce=True)
    sandbox.clear_code_exchanges()
    yield sandbox
    sandbox.reset_settings()


def test_by_default_a_challenge_is_ignored_as_keap_ignores_it(sandbox):
    sandbox.reset_settings()  # other tests on this sandbox may have turned it on
    assert sandbox.settings()["enforce_pkce"] is False
    code = _code(sandbox, _s256(secrets.token_urlsafe(48)))
    assert _exchange(sandbox, code, None).status_code == 200


def test_enforced_the_right_verifier_gets_the_tokens(enforcing):
    verifier = secrets.token_urlsafe(48)
    response = _exchange(enforcing, _code(enforcing, _s256(verifier)), verifier)
    assert response.status_code == 200
    assert response.json()["scope"] == "full|ab123.infusionsoft.com"


def test_enforced_a_missing_verifier_is_invalid_grant(enforcing):
    response = _exchange(enforcing, _code(enforcing, _s256(secrets.token_urlsafe(48))), None)
    assert response.status_code == 400
    assert response.json() == MISSING_VERIFIER


@pytest.mark.parametrize(
    "sent",
    [
        "another-verifier-of-the-right-shape-0123456789abcdef",
        "short",  # under RFC 7636's 43 characters
        "é" * 50,  # outside its alphabet
    ],
)
def test_enforced_a_wrong_verifier_is_invalid_grant_and_leaves_the_code_unspent(enforcing, sent):
    verifier = secrets.token_urlsafe(48)
    code = _code(enforcing, _s256(verifier))

    refused = _exchange(enforcing, code, sent)

    assert refused.status_code == 400
    assert refused.json() == WRONG_VERIFIER
    assert refused.headers["Cache-Control"] == "no-store"
    # The browser that asked for the code still holds the right verifier, and it still works.
    assert _exchange(enforcing, code, verifier).status_code == 200


def test_enforced_a_plain_challenge_is_refused_at_the_authorize_step(enforcing):
    verifier = secrets.token_urlsafe(48)
    url = enforcing.authorize_url(
        state="st", code_challenge=verifier, code_challenge_method="plain"
    )
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.geturl().startswith(enforcing.redirect_uris[0] + "?")
    assert parse_qs(location.query) == {
        "error": ["invalid_request"],
        "error_description": ["code_challenge_method must be S256"],
        "state": ["st"],
    }


def test_enforced_a_code_issued_without_a_challenge_needs_no_verifier(enforcing):
    assert _exchange(enforcing, _code(enforcing, None), None).status_code == 200


def test_each_exchange_is_recorded_with_what_was_sent_but_never_the_verifier(enforcing):
    verifier = secrets.token_urlsafe(48)
    challenge = _s256(verifier)
    code = _code(enforcing, challenge)
    _exchange(enforcing, code, "x" * 43)
    _exchange(enforcing, code, verifier)
    _exchange(enforcing, "a-code-never-issued", verifier)

    wrong, right, unknown = enforcing.code_exchanges()

    authorize = {
        "redirect_uri": enforcing.redirect_uris[0],
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert wrong["authorize"] == authorize and right["authorize"] == authorize
    assert wrong["code_verifier_s256"] == _s256("x" * 43)
    assert wrong["error"] == WRONG_VERIFIER["error_description"]
    assert right["code_verifier_s256"] == challenge
    assert right["redirect_uri"] == enforcing.redirect_uris[0]
    assert right["error"] == ""
    assert unknown["authorize"] is None
    assert unknown["error"] == "Invalid authorization code"
    assert verifier not in str(enforcing.code_exchanges())
