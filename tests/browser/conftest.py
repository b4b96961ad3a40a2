"""Chromium (Debian's) driven by Playwright against a live Onramp and the Keap sandbox."""

import os
from pathlib import Path

import pytest

from tests.conftest import missing_service

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        missing_service("chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test's thread for the whole session;
    # Django's ORM refuses to run beside a running loop unless told it is fine, which it is here
    # (one thread, used in turn). Set for exactly as long as the loop runs.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-quic",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def live_keap(keap, live_server, settings):
    """The sandbox, registered with the live server's callback URL."""
    settings.KEAP_REDIRECT_URI = f"{live_server.url}/connections/keap/callback"
    settings.KEAP_SIGNIN_REDIRECT_URI = f"{live_server.url}/accounts/keap/login/callback/"
    keap.set_redirect_uris([settings.KEAP_REDIRECT_URI, settings.KEAP_SIGNIN_REDIRECT_URI])
    return keap


def sign_in(page, live_server, email: str, password: str) -> None:
    """Sign in through Onramp's own form, as a customer would."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign In").click()


def through_keap(page, *, app: str, decision: str = "Allow", email: str = "alex@sandbox.keap.test"):
    """On the sandbox's Keap pages: sign in if asked, pick the Keap app, Allow or Deny."""
    if page.get_by_text("Sign in to Keap").is_visible():
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("sandbox")
        page.get_by_role("button", name="Sign in").click()
    page.locator(f"input[name=app][value={app}]").check()
    page.get_by_role("button", name=decision).click()
