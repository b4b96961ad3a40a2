"""In Chromium, with the CSP in force: the main pages, htmx and the admin run without one violation.

Part of the security tests (tests/security/), kept here to share this folder's one Chromium session.
"""

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, through_keap
from tests.conftest import STAFF_TOTP_SECRET
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script, in every document: keeps the page's own CSP violation reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


class Violations:
    """CSP violations Chromium reported, from the console and from each page's own events."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(f"{self.page.url}: {message.text}")

    def check(self) -> list[str]:
        """Everything reported so far (the current page's events included)."""
        events = self.page.evaluate("window.__cspViolations || []")
        return [*self.console, *(f"{self.page.url}: {event}" for event in events)]


@pytest.fixture
def violations(page) -> Violations:
    return Violations(page)


def _visit(page, violations, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    assert violations.check() == [], url


def test_the_violation_watcher_sees_a_violation(page, live_server, violations):
    _visit(page, violations, f"{live_server.url}/")

    # An inline style attribute is exactly what the policy forbids.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(200)

    assert any("style-src" in seen for seen in violations.check())


def test_public_pages_and_htmx_search_run_under_the_csp(page, live_server, violations):
    for path in ("/", "/accounts/login/", "/accounts/signup/", "/capabilities/"):
        _visit(page, violations, f"{live_server.url}{path}")

    # htmx swaps search results in as the customer types.
    page.locator("#cap-q").press_sequentially("refund")
    expect(page.locator("#results [data-count]")).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert violations.check() == []


def test_connecting_and_the_htmx_connection_page_run_under_the_csp(
    page, live_server, live_keap, violations
):
    owner = UserFactory(email="csp-owner@example.com")
    sign_in(page, live_server, owner.email, PASSWORD)
    expect(page.get_by_role("heading", name="Your Keap connections")).to_be_visible()

    # The connect form's redirect to Keap's consent page is allowed by form-action.
    page.get_by_role("button", name="Connect Keap account").click()
    through_keap(page, app="ab123")
    expect(page.get_by_role("heading", name="Keap app ab123")).to_be_visible()
    page.wait_for_load_state("networkidle")

    # The first sync is queued (no worker runs here): its panel polls with htmx every second,
    # and cancelling it is an htmx POST that swaps the panel.
    expect(page.locator("#sync-progress [role=status]")).to_be_visible()
    with page.expect_response(lambda r: "/progress" in r.url):
        pass
    page.get_by_role("button", name="Cancel sync").click()
    # A queued run stops at once; "Sync now" (another htmx POST) queues a new one.
    with page.expect_request(lambda r: r.method == "POST" and "/sync/" in r.url) as sent:
        page.get_by_role("button", name="Sync now").click()
    assert sent.value.headers.get("hx-request") == "true", "htmx did not send the form"
    expect(page.locator("#sync-progress [role=status]")).to_contain_text("waiting to start")

    assert violations.check() == []
    _visit(page, violations, f"{live_server.url}/connections/")
    _visit(page, violations, f"{live_server.url}/accounts/2fa/")


def test_staff_two_factor_sign_in_and_the_admin_run_under_the_csp(
    page, live_server, staff, violations
):
    page.goto(f"{live_server.url}/admin/")
    page.locator("input[name=login]").fill(staff.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.locator("input[name=code]").fill(pyotp.TOTP(STAFF_TOTP_SECRET).now())
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert violations.check() == []

    for path in (
        "/admin/accounts/user/",
        f"/admin/accounts/user/{staff.pk}/change/",
        "/admin/accounts/user/add/",
        "/admin/keap/developerapp/",
    ):
        _visit(page, violations, f"{live_server.url}{path}")


def test_new_staff_set_up_two_factor_under_the_csp(page, live_server, violations):
    newcomer = UserFactory(email="csp-staff@example.com", is_staff=True, is_superuser=True)
    sign_in(page, live_server, newcomer.email, PASSWORD)

    page.goto(f"{live_server.url}/admin/")
    # Sent to set up an authenticator; allauth first asks for the password again.
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    secret = page.locator("#authenticator_secret").input_value()
    expect(page.locator("img[src^='data:image/svg+xml']")).to_be_visible()
    page.locator("input[name=code]").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("heading", name="Recovery Codes")).to_be_visible()

    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert violations.check() == []
