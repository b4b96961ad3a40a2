"""Where Keap sends the customer back is configuration, never the request's Host or X-Forwarded-Host.

A redirect URI built from the request would let a forged header send the authorization code to a
host the attacker reads. Both ways in are tried: connecting a Keap app, and Sign in with Keap.
What Keap saw is read from the sandbox's record of each code exchange.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from webapp.connections.models import KeapConnection

pytestmark = pytest.mark.django_db

FORGED = {
    "Host": {"HTTP_HOST": "evil.example"},
    "Host with a port": {"HTTP_HOST": "evil.example:8443"},
    "X-Forwarded-Host": {"HTTP_X_FORWARDED_HOST": "evil.example"},
    "X-Forwarded-Host and -Proto": {
        "HTTP_X_FORWARDED_HOST": "evil.example",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_PORT": "443",
    },
    "Forwarded": {"HTTP_FORWARDED": "host=evil.example;proto=https"},
}

WAYS_IN = {
    "connect": (reverse("connections:start"), reverse("connections:callback")),
    "sign in with Keap": ("/accounts/keap/login/", "/accounts/keap/login/callback/"),
}


def _redirect_uri(authorize_url: str) -> str:
    return parse_qs(urlsplit(authorize_url).query)["redirect_uri"][0]


@pytest.fixture
def any_host_accepted(settings):
    """The most trusting deployment: every Host allowed, X-Forwarded-Host believed."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.USE_X_FORWARDED_HOST = True
    settings.USE_X_FORWARDED_PORT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize("way_in", WAYS_IN)
@pytest.mark.parametrize("forged", FORGED)
def test_forged_host_headers_do_not_steer_the_redirect_uri(
    owner_client, anon_client, keap, settings, any_host_accepted, way_in, forged
):
    headers = FORGED[forged]
    start_path, callback_path = WAYS_IN[way_in]
    client = owner_client if way_in == "connect" else anon_client
    configured = (
        settings.KEAP_REDIRECT_URI if way_in == "connect" else settings.KEAP_SIGNIN_REDIRECT_URI
    )

    start = client.post(start_path, **headers)
    assert start.status_code == 302
    assert start["Location"].startswith(settings.KEAP_AUTHORIZE_URL + "?")
    assert _redirect_uri(start["Location"]) == configured
    callback = client.get(callback_path, keap.consent(start["Location"]), **headers)

    (exchange,) = keap.code_exchanges()
    assert exchange["authorize"]["redirect_uri"] == configured
    assert exchange["redirect_uri"] == configured
    assert exchange["error"] == ""
    assert callback.status_code == 302
    assert "evil.example" not in callback["Location"]
    assert KeapConnection.objects.get().app_name == "ab123"


@pytest.mark.parametrize("way_in", WAYS_IN)
def test_with_onramps_settings_a_foreign_host_is_refused_before_anything_starts(
    owner_client, anon_client, keap, way_in
):
    start_path, _ = WAYS_IN[way_in]
    client = owner_client if way_in == "connect" else anon_client

    response = client.post(start_path, HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert "Location" not in response
    assert "keap_oauth_pending" not in client.session
