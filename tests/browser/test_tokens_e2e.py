"""In Chromium: sign in with Keap; a revoked grant's banner, email and in-place reconnect."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, through_keap
from tests.factories import PASSWORD, UserFactory
from webapp.connections.models import KeapConnection
from webapp.connections.tokens import NeedsReconnect, client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_with_keap_signs_up_and_connects_the_app_in_one_step(page, live_server, live_keap):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Keap", exact=True).click()
    page.get_by_role("button", name="Continue").click()
    through_keap(page, app="cd456")

    expect(page.get_by_role("heading", name="Your Keap connections")).to_be_visible()
    expect(page.get_by_text("Connected Keap app cd456 (Cedar Dental).")).to_be_visible()
    expect(page.locator("#connections tr[data-app=cd456]")).to_contain_text("Active")
    expect(page.locator(".who")).to_have_text("alex@sandbox.keap.test")
    connection = KeapConnection.objects.get(app_name="cd456")
    assert connection.owner.email == "alex@sandbox.keap.test"
    assert client_for(connection.pk).userinfo().email == "alex@sandbox.keap.test"
    assert live_keap.stats()["token:authorization_code"] == 1


def test_revoked_grant_shows_a_banner_and_email_and_reconnecting_restores_it(
    page, live_server, live_keap, mailoutbox
):
    owner = UserFactory(email="revoked@example.com")
    sign_in(page, live_server, owner.email, PASSWORD)
    page.get_by_role("button", name="Connect Keap account").click()
    through_keap(page, app="ab123")
    expect(page.get_by_text("Connected Keap app ab123 (Acme Bakery).")).to_be_visible()
    connection = KeapConnection.objects.get(owner=owner)

    live_keap.revoke("ab123")
    with pytest.raises(NeedsReconnect):  # the next call on the customer's behalf
        client_for(connection.pk).userinfo()
    refreshes = live_keap.stats()["token:refresh_token"]

    page.goto(f"{live_server.url}/connections/")
    banner = page.locator("[data-banner=reconnect-ab123]")
    expect(banner).to_contain_text("Keap no longer accepts Onramp's access to ab123 (Acme Bakery).")
    expect(page.locator("#connections tr[data-app=ab123]")).to_contain_text("Needs reconnect")
    assert [m.subject for m in mailoutbox] == ["[Onramp] Reconnect your Keap app ab123"]
    with pytest.raises(NeedsReconnect):
        client_for(connection.pk).userinfo()
    assert live_keap.stats()["token:refresh_token"] == refreshes  # no further refresh attempted

    banner.get_by_role("button", name="Reconnect ab123").click()
    through_keap(page, app="ab123")

    expect(page.get_by_role("heading", name="Keap app ab123")).to_be_visible()
    expect(page.get_by_text("Recovered after Keap revoked access.")).to_be_visible()
    expect(page.locator("[data-banner=reconnect-ab123]")).to_have_count(0)
    assert page.url.endswith(f"/connections/{connection.pk}/")
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert client_for(connection.pk).userinfo().email == "alex@sandbox.keap.test"
