"""The usage panel on the connection page shows what the sandbox counted, exactly."""

import re

import pytest
from django.urls import reverse

from webapp.connections.tokens import client_for
from webapp.usage import recorder

pytestmark = pytest.mark.django_db


def _sandbox_calls(keap, tenant: str) -> int:
    return sum(e["calls"] for e in keap.counts()["tenants"].get(tenant, {}).values())


def test_connection_page_shows_the_tenants_calls_today_as_keap_counted_them(
    owner_client, connect, keap
):
    connection = connect(owner_client, app="ab123")
    client = client_for(connection.pk)
    client.userinfo()
    client.list_contacts_v1(limit=10)
    client.achieve_goal(integration="ab123", call_name="purchased", contact_id=1)
    recorder.flush()

    page = owner_client.get(reverse("connections:detail", args=[connection.pk])).content.decode()

    shown = re.search(r'data-usage="tenant-calls">([\d,]+)', page).group(1)
    assert int(shown.replace(",", "")) == _sandbox_calls(keap, "ab123")
    assert "of 250,000" in page  # the tenant's daily limit
    assert "goals.achieve.v1" in page and "contacts.list.v1" in page
    assert page.count("<rect") >= 96 + 30  # both charts drawn


@pytest.mark.parametrize(
    ("client_name", "status"),
    [("owner_client", 200), ("other_client", 404), ("staff_client", 404), ("anon_client", 302)],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_usage_fragment_is_the_owners_alone(
    request, connection_factory_pk, client_name, status, htmx
):
    client = request.getfixturevalue(client_name)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get(reverse("usage:panel", args=[connection_factory_pk]), **headers)
    assert response.status_code == status
    if status == 200:
        assert 'id="usage-panel"' in response.content.decode()
        assert "<html" not in response.content.decode()


@pytest.fixture
def connection_factory_pk(connection):
    return connection.pk
