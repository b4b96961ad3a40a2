"""A grant narrower than Keap's `full` is refused with a clear message and stores nothing.

Keap answers every grant with `full|<app>.infusionsoft.com` and the sandbox does the same, so a
loopback token endpoint plays a Keap that grants less."""

import json
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.urls import reverse

from tests.loopback import serving
from webapp.connections.models import KeapConnection
from webapp.keap.models import DeveloperApp

pytestmark = pytest.mark.django_db


class NarrowGrant(BaseHTTPRequestHandler):
    scope = "read|ab123.infusionsoft.com"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({
            "access_token": "narrow-access", "refresh_token": "narrow-refresh",
            "token_type": "bearer", "expires_in": 86400, "scope": self.scope,
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("scope", ["read|ab123.infusionsoft.com", "|ab123.infusionsoft.com"])
def test_a_narrower_grant_is_refused_and_nothing_is_stored(owner_client, keap, scope):
    start = owner_client.post(reverse("connections:start"))
    params = keap.consent(start["Location"], app="ab123")
    NarrowGrant.scope = scope
    with serving(HTTPServer(("127.0.0.1", 0), NarrowGrant)) as token_server:
        DeveloperApp.objects.update(token_url=f"http://127.0.0.1:{token_server.server_port}/token")
        response = owner_client.get(reverse("connections:callback"), params)

    body = response.content.decode()
    assert response.status_code == 400
    granted = scope.partition("|")[0] or "no"
    assert f"Keap granted “{granted}” access where Onramp needs full access" in body
    assert "Nothing was connected" in body
    assert not KeapConnection.objects.exists()


def test_keaps_full_grant_is_accepted(owner_client, keap):
    start = owner_client.post(reverse("connections:start"))
    response = owner_client.get(
        reverse("connections:callback"), keap.consent(start["Location"], app="ab123")
    )
    assert response.status_code == 302
    assert KeapConnection.objects.get().scope == "full|ab123.infusionsoft.com"
