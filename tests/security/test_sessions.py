"""Sessions end for good at sign-out, and a sign-in that succeeds forgives no failed one.

allauth counts failed sign-ins per client address and per account (ACCOUNT_RATE_LIMITS
"login_failed"). A successful sign-in takes back only its own attempt: were it to wipe the counts,
someone guessing a password could slip in a sign-in to an account of their own now and then and
keep guessing for ever.
"""

import re

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import STAFF_TOTP_SECRET

pytestmark = pytest.mark.django_db

THROTTLED = "Too many failed login attempts"
AUTHENTICATE = "/accounts/2fa/authenticate/"
ACTIVATE = "/accounts/2fa/totp/activate/"


def _failed_login_limits() -> dict[str, int]:
    """How many failures "login_failed" allows per ip and per key, e.g. {"ip": 10, "key": 5}."""
    rates = settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",")
    return {m[2]: int(m[1]) for m in (re.fullmatch(r"(\d+)/\w+/(\w+)", r) for r in rates) if m}


def _sign_in(client: Client, email: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        reverse("account_login"), {"login": email, "password": password}, REMOTE_ADDR=address
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_a_session_cookie_is_dead_after_sign_out(client, owner, password):
    _sign_in(client, owner.email, password)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get(reverse("connections:dashboard")).status_code == 200

    client.post(reverse("account_logout"))
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    response = replay.get(reverse("connections:dashboard"), follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    page = response.content.decode()
    assert "Sign in" in page and owner.email not in page
    assert not _signed_in(replay)


def test_a_staff_session_cookie_is_dead_after_sign_out(staff_client):
    assert staff_client.get("/admin/").status_code == 200
    cookie = staff_client.cookies[settings.SESSION_COOKIE_NAME].value

    staff_client.post(reverse("account_logout"))
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie

    response = replay.get("/admin/")
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_a_successful_sign_in_does_not_reset_an_accounts_failed_count(client, owner, password):
    allowed = _failed_login_limits()["key"]
    for attempt in range(allowed - 1):
        _sign_in(client, owner.email, f"wrong-{attempt}", address=f"192.0.2.{attempt + 1}")
    assert _sign_in(client, owner.email, password).status_code == 302
    client.post(reverse("account_logout"))

    last = _sign_in(client, owner.email, "wrong-again", address="192.0.2.99")
    refused = _sign_in(client, owner.email, password, address="192.0.2.100")

    assert THROTTLED not in last.content.decode()
    assert THROTTLED in refused.content.decode()
    assert not _signed_in(client)


def _fail_all_but_once_from_this_address(client: Client) -> None:
    for attempt in range(_failed_login_limits()["ip"] - 1):
        _sign_in(client, f"guess{attempt}@example.com", "wrong")


def _assert_failing_once_more_from_this_address_is_the_last(client: Client, owner, password):
    client.post(reverse("account_logout"))
    last = _sign_in(client, "guess-last@example.com", "wrong")
    refused = _sign_in(client, owner.email, password)

    assert THROTTLED not in last.content.decode()
    assert THROTTLED in refused.content.decode()
    assert not _signed_in(client)


def test_a_successful_sign_in_does_not_reset_an_addresss_failed_count(
    client, owner, other_customer, password
):
    _fail_all_but_once_from_this_address(client)
    # Someone signs in to an account of their own from the same address...
    assert _sign_in(client, other_customer.email, password).status_code == 302
    assert _signed_in(client)
    # ...and is still refused at the same count as before.
    _assert_failing_once_more_from_this_address_is_the_last(client, owner, password)


@pytest.fixture
def own_account_with_authenticator(other_customer):
    TOTP.activate(other_customer, STAFF_TOTP_SECRET)
    return other_customer


def test_a_two_factor_sign_in_does_not_reset_an_addresss_failed_count(
    client, owner, own_account_with_authenticator, password
):
    _fail_all_but_once_from_this_address(client)

    _sign_in(client, own_account_with_authenticator.email, password)
    code = client.post(AUTHENTICATE, {"code": pyotp.TOTP(STAFF_TOTP_SECRET).now()})
    assert code.status_code == 302
    assert _signed_in(client)

    _assert_failing_once_more_from_this_address_is_the_last(client, owner, password)


def test_a_two_factor_reauthentication_does_not_reset_an_addresss_failed_count(
    client, owner, own_account_with_authenticator, password
):
    client.force_login(
        own_account_with_authenticator, backend="django.contrib.auth.backends.ModelBackend"
    )
    _fail_all_but_once_from_this_address(Client())

    code = pyotp.TOTP(STAFF_TOTP_SECRET).now()
    assert client.post(reverse("mfa_reauthenticate"), {"code": code}).status_code == 302

    _assert_failing_once_more_from_this_address_is_the_last(client, owner, password)


def test_setting_up_an_authenticator_app_does_not_reset_an_addresss_failed_count(
    client, owner, other_customer, password
):
    _sign_in(client, other_customer.email, password)
    client.post(reverse("account_reauthenticate"), {"password": password})
    page = client.get(ACTIVATE).content.decode()
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page)
    assert secret, "the activation page shows no secret"
    _fail_all_but_once_from_this_address(Client())

    activated = client.post(ACTIVATE, {"code": pyotp.TOTP(secret[1]).now()})
    assert activated.status_code == 302, activated.content.decode()

    _assert_failing_once_more_from_this_address_is_the_last(client, owner, password)
