"""Failed sign-ins are throttled per client address and per account; a forged X-Forwarded-For dodges neither.

allauth counts failed logins per IP (10 a minute) and per address signed in to (5 in 5 minutes). The IP
is the socket's own unless TRUSTED_PROXY_COUNT says proxies we run append to X-Forwarded-For.
"""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

THROTTLED = "Too many failed login attempts"


def _sign_in(client, email: str, password: str, *, forwarded_for: str | None = None, url=None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return client.post(
        url or reverse("account_login"), {"login": email, "password": password}, **headers
    )


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_failed_logins_from_one_client_are_throttled_whatever_x_forwarded_for_says(
    anon_client, owner, password
):
    # Ten wrong passwords, each for a different address and behind a different made-up proxy chain.
    for attempt in range(10):
        response = _sign_in(
            anon_client,
            f"guess{attempt}@example.com",
            "wrong",
            forwarded_for=f"198.51.100.{attempt}",
        )
        assert THROTTLED not in response.content.decode()

    # The eleventh is refused before the password is even checked, the right one included.
    response = _sign_in(anon_client, owner.email, password, forwarded_for="203.0.113.99")

    assert THROTTLED in response.content.decode()
    assert not _signed_in(anon_client)


def test_another_client_address_is_not_throttled_by_someone_elses_failures(
    anon_client, client, owner, password
):
    for attempt in range(11):
        _sign_in(anon_client, f"guess{attempt}@example.com", "wrong")

    response = client.post(
        reverse("account_login"),
        {"login": owner.email, "password": password},
        REMOTE_ADDR="192.0.2.44",
    )

    assert response.status_code == 302
    assert _signed_in(client)


def test_failed_logins_for_one_account_are_throttled_from_any_address(anon_client, owner, password):
    for attempt in range(5):
        anon_client.post(
            reverse("account_login"),
            {"login": owner.email, "password": f"wrong-{attempt}"},
            REMOTE_ADDR=f"192.0.2.{attempt + 1}",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}",
        )

    response = anon_client.post(
        reverse("account_login"),
        {"login": owner.email, "password": password},
        REMOTE_ADDR="192.0.2.200",
    )

    assert THROTTLED in response.content.decode()
    assert not _signed_in(anon_client)


def test_admin_login_cannot_be_used_to_get_around_the_throttle(anon_client, staff, password):
    # The admin's own login form is not there: it sends everyone to allauth's, throttle and all.
    response = _sign_in(anon_client, staff.email, password, url="/admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not _signed_in(anon_client)

    for attempt in range(10):
        _sign_in(
            anon_client,
            f"admin{attempt}@example.com",
            "wrong",
            forwarded_for=f"198.51.100.{attempt}",
            url=response["Location"],
        )
    throttled = _sign_in(
        anon_client, staff.email, password, forwarded_for="203.0.113.5", url=response["Location"]
    )

    assert THROTTLED in throttled.content.decode()
    assert not _signed_in(anon_client)
    assert anon_client.get("/admin/").status_code == 302


def test_behind_a_trusted_proxy_the_address_it_appends_is_the_one_counted(
    anon_client, owner, password, settings
):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    # Our proxy appends the address it saw; whatever the client put before it is ignored.
    for attempt in range(10):
        _sign_in(
            anon_client,
            f"guess{attempt}@example.com",
            "wrong",
            forwarded_for=f"198.51.100.{attempt}, 203.0.113.7",
        )
    throttled = _sign_in(anon_client, owner.email, password, forwarded_for="10.9.9.9, 203.0.113.7")
    elsewhere = _sign_in(anon_client, owner.email, password, forwarded_for="203.0.113.8")

    assert THROTTLED in throttled.content.decode()
    assert elsewhere.status_code == 302
