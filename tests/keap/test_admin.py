"""The operator edits developer apps and their limits in the admin; the secret is never shown."""

import pytest
from django.urls import reverse

from webapp.keap.models import DeveloperApp

pytestmark = pytest.mark.django_db


def _form(app: DeveloperApp, **changes) -> dict:
    data = {
        "name": app.name, "client_id": app.client_id, "client_secret": "",
        "authorize_url": app.authorize_url, "token_url": app.token_url, "api_url": app.api_url,
        "preset": "", "limit_per_second": 25, "limit_per_minute": 1500, "limit_per_day": 150000,
        "tenant_limit_per_minute": 10000, "tenant_limit_per_day": 250000,
        "interactive_reserve": "0.10", "goal_api": "rest_v1",
    }  # fmt: skip
    data.update(changes)
    return data


def test_staff_change_limits_and_apply_the_legacy_preset(staff_client, settings):
    app = DeveloperApp.objects.current()
    url = reverse("admin:keap_developerapp_change", args=[app.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert settings.KEAP_CLIENT_SECRET not in page.content.decode()
    assert "enc1:" not in page.content.decode()

    staff_client.post(url, _form(app, limit_per_day=1000, goal_api="xmlrpc"))
    app.refresh_from_db()
    assert (app.limit_per_day, app.goal_api) == (1000, "xmlrpc")
    assert app.client_secret() == settings.KEAP_CLIENT_SECRET  # blank keeps the secret

    staff_client.post(url, _form(app, preset="legacy_faq", client_secret="rotated-secret"))
    app.refresh_from_db()
    assert (app.limit_per_second, app.limit_per_minute, app.limit_per_day) == (25, None, 125_000)
    assert app.tenant_limit_per_day is None
    assert app.client_secret() == "rotated-secret"


def test_customers_and_visitors_cannot_reach_it(owner_client, anon_client):
    app = DeveloperApp.objects.current()
    for client in (owner_client, anon_client):
        response = client.get(reverse("admin:keap_developerapp_change", args=[app.pk]))
        assert response.status_code == 302 and "login" in response["Location"]


def test_keap_oauth_today_preset_is_api_md_section_4(settings):
    app = DeveloperApp.objects.current()
    assert (app.limit_per_second, app.limit_per_minute, app.limit_per_day) == (25, 1500, 150_000)
    assert (app.tenant_limit_per_minute, app.tenant_limit_per_day) == (10_000, 250_000)
