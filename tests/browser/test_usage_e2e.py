"""In Chromium: the connection page's usage matches the sandbox's own count, and the charts render."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, sign_in, through_keap
from tests.factories import PASSWORD, UserFactory
from webapp.connections.models import KeapConnection
from webapp.connections.tokens import client_for
from webapp.usage import recorder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connection_page_counts_exactly_what_keap_counted(
    page, live_server, live_keap, eager_celery
):
    owner = UserFactory(email="counts@example.com")
    sign_in(page, live_server, owner.email, PASSWORD)
    page.get_by_role("button", name="Connect Keap account").click()
    through_keap(page, app="cd456")
    expect(page.get_by_role("heading", name="Keap app cd456")).to_be_visible()

    connection = KeapConnection.objects.get(owner=owner)
    keap = client_for(connection.pk)
    for contact_id in (1, 2, 3):
        keap.achieve_goal(integration="cd456", call_name="purchased", contact_id=contact_id)
    keap.list_contacts_v2(page_size=50)
    recorder.flush()
    page.reload()

    counted = sum(e["calls"] for e in live_keap.counts()["tenants"]["cd456"].values())
    shown = page.locator("[data-usage=tenant-calls]").inner_text()
    assert int(re.match(r"[\d,]+", shown).group(0).replace(",", "")) == counted
    expect(page.locator("#usage-panel")).to_contain_text("goals.achieve.v1")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(2)
    assert charts.first.locator("rect").count() == 96
    assert page.locator("svg.chart rect.bar").count() >= 2  # calls drawn in both charts
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "connection-usage.png"), full_page=True)
