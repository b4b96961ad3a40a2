"""A new customer, in Chromium: sign up, confirm the email, connect a Keap app, see it listed."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import through_keap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _confirmation_link(mailoutbox) -> str:
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert "Confirm" in message.subject or "confirm" in message.body
    return re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)


def _sign_up(page, live_server, mailoutbox, email: str) -> None:
    page.goto(live_server.url)
    page.get_by_role("link", name="Create an account").click()
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password1]").fill("a-long-and-unusual-passphrase")
    page.locator("input[name=password2]").fill("a-long-and-unusual-passphrase")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_text("Verify Your Email Address")).to_be_visible()

    page.goto(_confirmation_link(mailoutbox))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your Keap connections")).to_be_visible()


def _through_keap(page, *, app: str, decision: str) -> None:
    page.get_by_role("button", name="Connect Keap account").click()
    expect(page.get_by_text("Sign in to Keap")).to_be_visible()
    through_keap(page, app=app, decision=decision)


def test_new_customer_signs_up_connects_a_keap_app_and_sees_it(
    page, live_server, live_keap, mailoutbox
):
    _sign_up(page, live_server, mailoutbox, "newcomer@example.com")

    _through_keap(page, app="cd456", decision="Allow")

    expect(page.get_by_text("Connected Keap app cd456 (Cedar Dental).")).to_be_visible()
    page.get_by_role("link", name="← All connections").click()
    row = page.locator("#connections tr[data-app=cd456]")
    expect(row).to_contain_text("Cedar Dental")
    expect(row).to_contain_text("Active")
    assert live_keap.stats()["token:authorization_code"] == 1


def test_customer_who_denies_sees_a_friendly_message(page, live_server, live_keap, mailoutbox):
    _sign_up(page, live_server, mailoutbox, "hesitant@example.com")

    _through_keap(page, app="ab123", decision="Deny")

    expect(page.get_by_role("heading", name="Not connected")).to_be_visible()
    expect(
        page.get_by_text("You chose not to allow Onramp to access your Keap account.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    assert live_keap.stats().get("token:authorization_code", 0) == 0
