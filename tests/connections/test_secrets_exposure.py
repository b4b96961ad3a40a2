"""Tokens never show: not in repr(), error pages, logs at DEBUG, or any admin page."""

import logging
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse
from django.utils import timezone
from django.views.debug import ExceptionReporter
from requests_oauthlib import OAuth2Session

from tests.conftest import STAFF_TOTP_SECRET
from webapp.connections.models import KeapConnection
from webapp.connections.tokens import fresh_access_token
from webapp.keap import oauth
from webapp.keap.errors import KeapProtocolError, KeapTokenError

pytestmark = pytest.mark.django_db


def _secrets(connection: KeapConnection, settings) -> dict[str, str]:
    return {
        "access token": connection.access_token(),
        "refresh token": connection.refresh_token(),
        "client secret": settings.KEAP_CLIENT_SECRET,
    }


def _failure(call, *args) -> Exception:
    """Run a call that must fail and return its exception; the traceback starts here, so the
    test's own locals (which hold the secrets to look for) are not part of it."""
    try:
        call(*args)
    except Exception as exc:
        return exc
    raise AssertionError("the call did not fail")


def _error_page(exc: BaseException) -> str:
    return ExceptionReporter(None, type(exc), exc, exc.__traceback__).get_traceback_html()


def _assert_absent(text: str, secrets: dict[str, str]) -> None:
    for name, value in secrets.items():
        assert value not in text, f"the {name} is shown"


def _expire(connection: KeapConnection) -> None:
    KeapConnection.objects.filter(pk=connection.pk).update(
        access_expires_at=timezone.now() - timedelta(minutes=1)
    )


def test_repr_shows_no_token(owner_client, connect, settings):
    connection = connect(owner_client)
    token_set = oauth.TokenSet(
        access_token=connection.access_token(),
        refresh_token=connection.refresh_token(),
        expires_at=timezone.now(),
        scope="full|ab123.infusionsoft.com",
    )
    for shown in (repr(connection), str(connection), repr(token_set)):
        _assert_absent(shown, _secrets(connection, settings))


def test_error_page_of_a_failure_mid_refresh_shows_no_token(
    owner_client, connect, settings, monkeypatch
):
    connection = connect(owner_client)
    secrets = _secrets(connection, settings)
    _expire(connection)

    def broken_library(self, token_url, refresh_token=None, **kwargs):
        raise RuntimeError("a bug deep in the OAuth library")

    monkeypatch.setattr(OAuth2Session, "refresh_token", broken_library)
    failure = _failure(fresh_access_token, connection.pk)
    assert isinstance(failure, KeapProtocolError)
    page = _error_page(failure)
    assert "failed unexpectedly (RuntimeError)" in page and "fresh_access_token" in page
    _assert_absent(page, secrets)
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE


def test_error_page_of_a_refused_refresh_shows_no_token(owner_client, connect, settings):
    connection = connect(owner_client)
    secrets = _secrets(connection, settings)
    _expire(connection)
    app = connection.developer_app
    app.set_client_secret("a-wrong-client-secret")  # Keap answers 401: invalid client
    app.save()

    failure = _failure(fresh_access_token, connection.pk)
    assert isinstance(failure, KeapTokenError)
    page = _error_page(failure)
    assert "KeapTokenError" in page
    _assert_absent(page, {**secrets, "wrong secret": "a-wrong-client-secret"})
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE  # our mistake, not the customer's


def test_refresh_logs_nothing_secret_at_debug(owner_client, connect, settings, caplog, capsys):
    connection = connect(owner_client)
    old = _secrets(connection, settings)
    _expire(connection)
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            fresh_access_token(connection.pk)
    finally:
        for logger, level in levels.items():
            logger.setLevel(level)
    connection.refresh_from_db()
    captured = caplog.text + "".join(capsys.readouterr())
    assert "Refreshed the tokens" in captured
    _assert_absent(captured, {**old, **_secrets(connection, settings)})


def test_no_admin_page_shows_a_token(owner_client, connect, staff_client, settings):
    connection = connect(owner_client)
    secrets = _secrets(connection, settings)
    event = connection.events.first()
    pages = [
        reverse("admin:connections_keapconnection_changelist"),
        reverse("admin:connections_keapconnection_change", args=[connection.pk]),
        reverse("admin:connections_keapconnection_history", args=[connection.pk]),
        reverse("admin:connections_keapconnection_delete", args=[connection.pk]),
        reverse("admin:connections_connectionevent_changelist"),
        reverse("admin:connections_connectionevent_change", args=[event.pk]),
    ]
    for url in pages:
        page = staff_client.get(url)
        assert page.status_code == 200, url
        body = page.content.decode()
        assert "enc1:" not in body, url
        _assert_absent(body, secrets)


def test_exception_chains_from_the_token_endpoint_hide_library_frames():
    """A refusal raised deep in requests-oauthlib reaches callers with its frames cut off."""

    secret = "-".join(["rt", "value", str(7 * 6)])  # not spelled out in any source line

    def library_code(refresh_token=secret):
        raise KeapTokenError("refused", status=400)

    def guarded():
        with oauth._token_endpoint_errors("refresh token"):
            library_code()

    failure = _failure(guarded)
    frames = []
    tb = failure.__traceback__
    while tb:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "guarded" in frames and "library_code" not in frames
    assert (failure.status, str(failure)) == (400, "refused")
    assert secret not in _error_page(failure)


def test_no_admin_page_shows_a_two_factor_secret(staff_client, staff):
    totp = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP)
    codes = Authenticator.objects.get(user=staff, type=Authenticator.Type.RECOVERY_CODES)
    secrets = {
        "TOTP secret": STAFF_TOTP_SECRET,
        "sealed TOTP secret": totp.data["secret"],
        "sealed recovery seed": codes.data["seed"],
        **{f"recovery code {i}": code for i, code in enumerate(codes.wrap().get_unused_codes())},
    }
    pages = [reverse("admin:mfa_authenticator_changelist")]
    for authenticator in (totp, codes):
        pages += [
            reverse(f"admin:mfa_authenticator_{view}", args=[authenticator.pk])
            for view in ("change", "history", "delete")
        ]
    for url in pages:
        page = staff_client.get(url)
        assert page.status_code == 200, url
        body = page.content.decode()
        assert staff.email in body, url  # the page is about staff's authenticators
        assert "enc1:" not in body and 'name="data"' not in body, url
        _assert_absent(body, secrets)

    # Nor can the admin write one: its form has no field for it, and no change is accepted.
    change = reverse("admin:mfa_authenticator_change", args=[totp.pk])
    posted = staff_client.post(change, {"data": '{"secret": "forged"}', "type": "totp"})
    assert posted.status_code == 403
    totp.refresh_from_db()
    assert totp.data["secret"] == secrets["sealed TOTP secret"]
