"""PKCE and state on the connect flow, seen from Keap's side: the sandbox, which enforces S256 here.

Keap itself ignores PKCE (docs/keap/API.md §1.2); the `keap` fixture turns the sandbox's
`enforce_pkce` switch on, and the sandbox records what each authorization and token request
carried (the verifier only as its S256).
"""

import base64
import hashlib
import math
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from webapp.connections.models import KeapConnection

pytestmark = pytest.mark.django_db

CALLBACK = reverse("connections:callback")


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _start(client: Client) -> str:
    response = client.post(reverse("connections:start"))
    assert response.status_code == 302
    return response["Location"]


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _connect(client: Client, keap, app: str = "ab123"):
    return client.get(f"{CALLBACK}?{urlencode(keap.consent(_start(client), app=app))}")


def test_the_challenge_keap_receives_is_the_s256_of_the_verifier_kept_for_that_state(
    owner_client, keap
):
    authorize_url = _start(owner_client)
    state = _query(authorize_url)["state"]
    kept = owner_client.session["keap_oauth_pending"][state]["verifier"]
    owner_client.get(f"{CALLBACK}?{urlencode(keap.consent(authorize_url))}")

    (exchange,) = keap.code_exchanges()

    assert exchange["authorize"]["state"] == state
    assert exchange["authorize"]["code_challenge_method"] == "S256"
    assert exchange["authorize"]["code_challenge"] == _s256(kept)
    assert KeapConnection.objects.get().app_name == "ab123"


def test_the_token_request_carries_the_verifier(owner_client, keap):
    response = _connect(owner_client, keap)

    (exchange,) = keap.code_exchanges()
    assert exchange["code_verifier_s256"] == exchange["authorize"]["code_challenge"]
    assert exchange["error"] == ""
    assert response.status_code == 302
    assert KeapConnection.objects.get().status == KeapConnection.Status.ACTIVE


def test_every_attempt_has_a_verifier_of_its_own(owner_client, keap):
    # Three attempts from one browser session, two of them for the same Keap app.
    for app in ("ab123", "cd456", "ab123"):
        assert _connect(owner_client, keap, app).status_code == 302

    exchanges = keap.code_exchanges()

    assert [e["error"] for e in exchanges] == ["", "", ""]
    assert len({e["authorize"]["code_challenge"] for e in exchanges}) == 3
    assert len({e["code_verifier_s256"] for e in exchanges}) == 3


def test_the_state_carries_at_least_128_bits_of_randomness(owner_client, keap):
    states = [_query(_start(owner_client))["state"] for _ in range(100)]

    assert len(set(states)) == len(states)
    # What an attacker could know of a state is what does not vary: count, position by position,
    # the bits that the characters seen there could carry (a fixed prefix carries none).
    width = min(map(len, states))
    bits = sum(math.log2(len({state[i] for state in states})) for i in range(width))
    assert bits >= 128, f"about {bits:.0f} bits"


def test_a_code_from_another_browser_session_is_refused_there(owner_client, other_client, keap):
    """Code injection: a code Keap issued to browser A (for A's challenge), put into browser B's
    callback with B's own valid state, is refused; B is told, and nothing is connected."""
    code_for_a = keap.consent(_start(owner_client), app="ab123")
    state_of_b = _query(_start(other_client))["state"]

    response = other_client.get(f"{CALLBACK}?{urlencode({**code_for_a, 'state': state_of_b})}")

    assert response.status_code == 400
    page = response.content.decode()
    assert "We could not connect your Keap account" in page
    assert "Keap did not accept the authorization" in page
    assert not KeapConnection.objects.exists()
    (refused,) = keap.code_exchanges()
    assert refused["error"] == "code_verifier does not match the code_challenge"
    # Browser A, which holds the verifier, still connects with that same code.
    assert owner_client.get(f"{CALLBACK}?{urlencode(code_for_a)}").status_code == 302
    assert KeapConnection.objects.get().owner.email == "owner@example.com"


def test_sign_in_with_keap_sends_an_s256_challenge_and_its_verifier(anon_client, keap):
    start = anon_client.post("/accounts/keap/login/")
    assert start.status_code == 302

    response = anon_client.get("/accounts/keap/login/callback/", keap.consent(start["Location"]))

    (exchange,) = keap.code_exchanges()
    assert exchange["authorize"]["code_challenge_method"] == "S256"
    assert exchange["code_verifier_s256"] == exchange["authorize"]["code_challenge"]
    assert exchange["error"] == ""
    assert response.status_code == 302
    assert KeapConnection.objects.get().keap_user_email == "alex@sandbox.keap.test"
