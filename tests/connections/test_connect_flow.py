"""The connect flow against the Keap sandbox over real HTTP, including every bad callback."""

import logging
import secrets
from urllib.parse import urlencode

import pytest
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from webapp.connections.models import ConnectionEvent, KeapConnection

pytestmark = pytest.mark.django_db

CALLBACK = reverse("connections:callback")


def _start(client: Client) -> str:
    response = client.post(reverse("connections:start"))
    assert response.status_code == 302
    return response["Location"]


def _callback(client: Client, params: dict[str, str] | list[tuple[str, str]]):
    return client.get(f"{CALLBACK}?{urlencode(params)}")


def _token_requests(sandbox) -> int:
    return sum(n for name, n in sandbox.stats().items() if name.startswith("token"))


def _assert_refused(response, sandbox, message: str) -> None:
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "Try again" in body
    assert _token_requests(sandbox) == 0
    assert not KeapConnection.objects.exists()


def test_owner_connects_a_keap_app_and_sees_it(owner_client, owner, keap):
    params = keap.consent(_start(owner_client), app="cd456")
    assert params["scope"] == "full|cd456.infusionsoft.com"

    response = _callback(owner_client, params)

    connection = KeapConnection.objects.get()
    assert response["Location"] == reverse("connections:detail", args=[connection.pk])
    assert (connection.owner, connection.app_name) == (owner, "cd456")
    assert connection.business_name == "Cedar Dental"
    assert connection.scope == "full|cd456.infusionsoft.com"
    assert connection.status == KeapConnection.Status.ACTIVE
    assert connection.keap_user_email == "alex@sandbox.keap.test"
    assert connection.access_expires_at is not None
    assert connection.events.get().kind == ConnectionEvent.Kind.CONNECTED
    assert keap.stats()["token:authorization_code"] == 1
    dashboard = owner_client.get(reverse("connections:dashboard")).content.decode()
    assert "cd456" in dashboard and "Cedar Dental" in dashboard and "Active" in dashboard


def test_connecting_the_same_keap_app_again_updates_it_in_place(owner_client, keap):
    _callback(owner_client, keap.consent(_start(owner_client), app="ab123"))
    first = KeapConnection.objects.get()
    old_sealed = first.access_token_sealed

    _callback(owner_client, keap.consent(_start(owner_client), app="ab123"))

    again = KeapConnection.objects.get()
    assert again.pk == first.pk
    assert again.access_token_sealed != old_sealed
    assert [e.kind for e in again.events.order_by("at", "pk")] == ["connected", "reconnected"]


def test_raw_token_columns_hold_no_plaintext(owner_client, keap):
    _callback(owner_client, keap.consent(_start(owner_client), app="ab123"))
    connection = KeapConnection.objects.get()
    access, refresh = connection.access_token(), connection.refresh_token()
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token_sealed, refresh_token_sealed FROM connections_keapconnection"
        )
        raw_access, raw_refresh = cursor.fetchone()
    assert raw_access.startswith("enc1:") and raw_refresh.startswith("enc1:")
    for raw in (raw_access, raw_refresh):
        assert access not in raw and refresh not in raw


def test_no_secret_reaches_any_log_even_at_debug(owner_client, keap, caplog, capsys, settings):
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            authorize_url = _start(owner_client)
            pending = owner_client.session["keap_oauth_pending"]
            verifier = next(iter(pending.values()))["verifier"]
            params = keap.consent(authorize_url, app="ab123")
            _callback(owner_client, params)
    finally:
        for logger, level in levels.items():
            logger.setLevel(level)
    connection = KeapConnection.objects.get()
    secrets_used = {
        "code": params["code"],
        "verifier": verifier,
        "client secret": settings.KEAP_CLIENT_SECRET,
        "access token": connection.access_token(),
        "refresh token": connection.refresh_token(),
    }
    captured = caplog.text + "".join(capsys.readouterr())
    assert "oauth2_session" in caplog.text or "urllib3" in caplog.text  # DEBUG really was on
    for name, value in secrets_used.items():
        assert value not in captured, f"the {name} reached the log"


def test_callback_without_state_is_refused(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    del params["state"]
    _assert_refused(_callback(owner_client, params), keap, "was not started from this browser")


def test_callback_with_forged_state_is_refused(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    params["state"] = secrets.token_urlsafe(30)
    _assert_refused(_callback(owner_client, params), keap, "was not started from this browser")


def test_callback_state_from_another_browser_session_is_refused(owner_client, owner, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    other_browser = Client()
    other_browser.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    _assert_refused(_callback(other_browser, params), keap, "was not started from this browser")


def test_callback_state_works_only_once(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    assert _callback(owner_client, params).status_code == 302
    keap.reset_stats()
    KeapConnection.objects.all().delete()

    _assert_refused(_callback(owner_client, params), keap, "already used")


def test_deny_on_keaps_page_shows_a_friendly_message(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123", decision="deny")
    assert params["error"] == "access_denied"
    response = _callback(owner_client, params)
    _assert_refused(response, keap, "You chose not to allow Onramp")
    assert "Not connected" in response.content.decode()


def test_other_errors_from_keap_are_shown_and_nothing_is_exchanged(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    response = _callback(owner_client, {"state": params["state"], "error": "server_error"})
    _assert_refused(response, keap, "Keap did not grant access (server_error)")


def test_callback_without_code_is_refused(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    del params["code"]
    _assert_refused(_callback(owner_client, params), keap, "has no authorization code")


def test_callback_with_repeated_keys_is_refused(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    query = [*params.items(), ("code", "another-code")]
    _assert_refused(_callback(owner_client, query), keap, "more than one “code”")


def test_callback_with_oversized_state_is_refused(owner_client, keap):
    _start(owner_client)
    response = _callback(owner_client, {"state": "s" * 5000, "code": "c"})
    _assert_refused(response, keap, "over-long “state”")


def test_a_code_keap_refuses_leaves_nothing_stored(owner_client, keap):
    params = keap.consent(_start(owner_client), app="ab123")
    params["code"] = "not-a-code-keap-issued"
    response = _callback(owner_client, params)
    assert response.status_code == 400
    assert "Keap did not accept the authorization" in response.content.decode()
    assert not KeapConnection.objects.exists()
