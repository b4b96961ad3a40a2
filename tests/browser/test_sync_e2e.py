"""In Chromium: a newly connected account's contacts appear, with a live progress bar, untouched."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, through_keap
from tests.factories import PASSWORD, UserFactory
from webapp.sync.models import Contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_contacts_arrive_with_a_live_progress_bar(page, live_server, live_keap, celery_worker):
    live_keap.seed_contacts("cd456", 2500)
    # Slow pages down so a person (and this test) can watch the bar move.
    live_keap.inject("latency", ms=1500, count=3, path_prefix="/crm/rest/v2/contacts")
    owner = UserFactory(email="watcher@example.com")
    sign_in(page, live_server, owner.email, PASSWORD)
    page.get_by_role("button", name="Connect Keap account").click()
    through_keap(page, app="cd456")

    expect(page.get_by_role("heading", name="Keap app cd456")).to_be_visible()
    expect(page.locator("progress.sync-bar")).to_be_visible(timeout=20_000)
    # No reload, no click: the bar polls, and the table fills in when the run ends.
    expect(page.locator("progress.sync-bar")).to_have_count(0, timeout=60_000)
    expect(page.locator("table.sync-contacts tbody tr").first).not_to_contain_text(
        "No contacts synced yet", timeout=10_000
    )
    expect(page.locator("table.sync-runs")).to_contain_text("2,500")
    assert Contact.objects.filter(connection__app_name="cd456").count() == 2500
