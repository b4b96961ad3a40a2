"""No page sends the browser off-site because a query string or form field asked it to."""

from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.urls import reverse

from tests.conftest import STAFF_TOTP_SECRET

pytestmark = pytest.mark.django_db

EVIL = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "https:/evil.example/",
    "http://testserver@evil.example/",
    "javascript:alert(document.domain)",
]


def assert_on_site(location: str) -> None:
    """A redirect target that a browser resolves to this site (testserver), and is not script."""
    # Browsers treat a backslash like a slash, so "/\\evil" would be protocol-relative.
    normalised = location.strip().replace("\\", "/")
    parts = urlsplit(normalised)
    assert parts.scheme in ("", "http", "https"), location
    assert parts.netloc in ("", "testserver"), location
    assert parts.netloc or (normalised.startswith("/") and not normalised.startswith("//")), (
        location
    )


@pytest.mark.parametrize("target", EVIL)
def test_sign_in_ignores_an_off_site_next(client, owner, password, target):
    response = client.post(
        reverse("account_login") + f"?next={target}",
        {"login": owner.email, "password": password, "next": target},
    )

    assert response.status_code == 302
    assert_on_site(response["Location"])
    assert response["Location"] == reverse("connections:dashboard")


@pytest.mark.parametrize("target", EVIL)
def test_sign_out_ignores_an_off_site_next(owner_client, target):
    response = owner_client.post(reverse("account_logout") + f"?next={target}", {"next": target})

    assert response.status_code == 302
    assert_on_site(response["Location"])


@pytest.mark.parametrize("target", EVIL)
def test_sign_up_ignores_an_off_site_next(client, target):
    response = client.post(
        reverse("account_signup") + f"?next={target}",
        {
            "email": "new@example.com",
            "password1": "a-long-and-unusual-passphrase",
            "password2": "a-long-and-unusual-passphrase",
            "next": target,
        },
    )

    assert response.status_code == 302
    assert_on_site(response["Location"])


@pytest.mark.parametrize("target", EVIL)
def test_reauthentication_ignores_an_off_site_next(client, owner, password, target):
    client.post(reverse("account_login"), {"login": owner.email, "password": password})

    response = client.post(
        reverse("account_reauthenticate") + f"?next={target}", {"password": password}
    )

    assert response.status_code == 302
    assert_on_site(response["Location"])


@pytest.mark.parametrize("target", EVIL)
def test_staff_signing_in_through_the_admin_and_two_factor_stay_on_site(
    client, staff, password, target
):
    start = client.get(f"/admin/login/?next={target}")
    assert_on_site(start["Location"])
    carried = parse_qs(urlsplit(start["Location"]).query)["next"][0]

    client.post(
        reverse("account_login"), {"login": staff.email, "password": password, "next": carried}
    )
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": pyotp.TOTP(STAFF_TOTP_SECRET).now()}, follow=True
    )

    assert response.redirect_chain, "two-factor sign-in did not redirect"
    for location, _status in response.redirect_chain:
        assert_on_site(location)
    assert response.status_code == 200
    assert response.wsgi_request.path.startswith("/admin/")


@pytest.mark.parametrize("target", EVIL)
def test_admin_sign_out_ignores_an_off_site_next(staff_client, target):
    response = staff_client.post(f"/admin/logout/?next={target}", {"next": target})

    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert_on_site(response["Location"])


@pytest.mark.parametrize("target", EVIL)
def test_connect_goes_only_to_keap_and_back_to_onramp(owner_client, keap, settings, target):
    start = owner_client.post(reverse("connections:start") + f"?next={target}", {"next": target})
    assert start["Location"].startswith(settings.KEAP_AUTHORIZE_URL + "?")
    params = keap.consent(start["Location"], app="ab123")

    response = owner_client.get(reverse("connections:callback"), {**params, "next": target})

    assert response.status_code == 302
    assert_on_site(response["Location"])
    assert response["Location"].startswith("/connections/")


@pytest.mark.parametrize("target", EVIL)
def test_sign_in_with_keap_ignores_an_off_site_next(anon_client, keap, settings, target):
    start = anon_client.post(f"/accounts/keap/login/?next={target}", {"next": target})
    assert start["Location"].startswith(settings.KEAP_AUTHORIZE_URL + "?")
    params = keap.consent(start["Location"], app="ab123")

    response = anon_client.get("/accounts/keap/login/callback/", params)

    assert response.status_code == 302
    assert_on_site(response["Location"])
