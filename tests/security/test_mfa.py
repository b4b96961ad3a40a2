"""Two-factor sign-in (allauth.mfa): optional for customers, required for staff before any staff page."""

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import reverse

from tests.conftest import STAFF_TOTP_SECRET
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ACTIVATE = "/accounts/2fa/totp/activate/"
AUTHENTICATE = "/accounts/2fa/authenticate/"


@pytest.fixture
def new_staff(db):
    """A member of staff who has not set up an authenticator yet."""
    return UserFactory(email="newstaff@example.com", is_staff=True, is_superuser=True)


def _sign_in(client, user, password, next_url: str = ""):
    data = {"login": user.email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("account_login"), data)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _activate_totp(client, password: str) -> str:
    """Set up an authenticator app as a person would: read the secret off the page, type a code."""
    page = client.get(ACTIVATE)
    # allauth asks for the password again before a change to how the account signs in.
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("account_reauthenticate"))
    client.post(page["Location"], {"password": password})
    page = client.get(ACTIVATE)
    assert page.status_code == 200
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page.content.decode())
    assert secret, "the activation page shows no secret"
    response = client.post(ACTIVATE, {"code": pyotp.TOTP(secret.group(1)).now()})
    assert response.status_code == 302, response.content.decode()
    return secret.group(1)


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/accounts/user/", "/connections/", "/capabilities/", "/"]
)
def test_staff_without_an_authenticator_are_sent_to_set_one_up_from_every_page(
    client, new_staff, password, path
):
    _sign_in(client, new_staff, password)
    assert _signed_in(client)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == ACTIVATE


def test_htmx_requests_from_staff_without_an_authenticator_get_a_full_page_redirect(
    client, new_staff, password
):
    _sign_in(client, new_staff, password)

    response = client.get("/connections/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == ACTIVATE


def test_staff_without_an_authenticator_can_still_sign_out(client, new_staff, password):
    _sign_in(client, new_staff, password)

    client.post(reverse("account_logout"))

    assert not _signed_in(client)


def test_staff_set_up_an_authenticator_app_then_reach_the_admin(client, new_staff, password):
    _sign_in(client, new_staff, password)
    assert client.get("/admin/").status_code == 302

    _activate_totp(client, password)

    assert Authenticator.objects.filter(user=new_staff, type="totp").exists()
    # Recovery codes were made with it, to print or store.
    codes_page = client.get(reverse("mfa_view_recovery_codes"))
    assert codes_page.status_code == 200
    assert client.get("/admin/").status_code == 200


def test_staff_with_an_authenticator_are_asked_for_a_code_before_the_admin(client, staff, password):
    start = client.get("/admin/")
    assert start.status_code == 302

    response = _sign_in(client, staff, password, next_url="/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(AUTHENTICATE)
    assert not _signed_in(client)
    assert client.get("/admin/").status_code == 302

    wrong = client.post(AUTHENTICATE, {"code": "000000"})
    assert wrong.status_code == 200
    assert not _signed_in(client)

    right = client.post(AUTHENTICATE, {"code": pyotp.TOTP(STAFF_TOTP_SECRET).now()})
    assert right.status_code == 302
    assert right["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_totp_code_is_accepted_once(client, staff, password):
    code = pyotp.TOTP(STAFF_TOTP_SECRET).now()
    _sign_in(client, staff, password)
    client.post(AUTHENTICATE, {"code": code})
    assert _signed_in(client)
    client.post(reverse("account_logout"))

    _sign_in(client, staff, password)
    replay = client.post(AUTHENTICATE, {"code": code})

    assert replay.status_code == 200
    assert not _signed_in(client)


def test_a_recovery_code_signs_staff_in_once(client, staff, password):
    recovery = RecoveryCodes(
        Authenticator.objects.get(user=staff, type=Authenticator.Type.RECOVERY_CODES)
    )
    code = recovery.get_unused_codes()[0]

    _sign_in(client, staff, password)
    used = client.post(AUTHENTICATE, {"code": code})
    assert used.status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post(reverse("account_logout"))

    _sign_in(client, staff, password)
    again = client.post(AUTHENTICATE, {"code": code})

    assert again.status_code == 200
    assert not _signed_in(client)


def test_customers_need_no_authenticator_but_can_set_one_up(client, owner, password):
    _sign_in(client, owner, password)
    dashboard = client.get("/connections/")
    assert dashboard.status_code == 200
    assert f'href="{reverse("mfa_index")}"' in dashboard.content.decode()

    _activate_totp(client, password)
    client.post(reverse("account_logout"))
    response = _sign_in(client, owner, password)

    assert response["Location"].startswith(AUTHENTICATE)
    assert not _signed_in(client)


def test_authenticator_secrets_are_sealed_at_rest(staff):
    stored = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP).data["secret"]

    assert STAFF_TOTP_SECRET not in stored
    assert stored.startswith("enc1:")


def test_non_staff_pages_are_not_gated_for_staff_with_an_authenticator(staff_client):
    assert staff_client.get("/admin/").status_code == 200
    assert staff_client.get("/connections/").status_code == 200


def test_seed_demo_prints_the_demo_staff_secret_that_signs_in(client, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEBUG = True  # seed_demo refuses to run with DEBUG off
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)  # run again: the same secret, not a new one
    secrets = re.findall(r"authenticator app: ([A-Z2-7]+)", out.getvalue())
    assert len(secrets) == 2 and secrets[0] == secrets[1]

    client.post(
        reverse("account_login"), {"login": "staff@onramp.test", "password": "onramp-staff"}
    )
    response = client.post(AUTHENTICATE, {"code": pyotp.TOTP(secrets[0]).now()})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
