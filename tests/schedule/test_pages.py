"""What people read of the plan: the operations page's plan, and each connection's own line on
how its changes reach Onramp."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ConnectionFactory
from webapp.hooks.models import HookDelivery, HookEndpoint
from webapp.keap.models import DeveloperApp
from webapp.schedule import today
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db


def _synced(connection, *, contacts: int = 5000) -> None:
    finished = timezone.now() - timedelta(days=2)
    SyncRun.objects.create(
        connection=connection, kind="initial", status="succeeded", fetched=contacts,
        finished_at=finished, watermark=finished,
    )  # fmt: skip


@pytest.fixture
def base(owner):
    """Four synced connections (two pushed by Keap, one failing, one never subscribed) and one
    new one waiting for its first sync."""
    connections = [ConnectionFactory(owner=owner) for _ in range(5)]
    for connection in connections[:4]:
        _synced(connection)
    for connection in connections[:2]:
        HookEndpoint.objects.create(
            connection=connection,
            status="verified",
            next_check_at=timezone.now() + timedelta(hours=20),
        )
    HookEndpoint.objects.create(
        connection=connections[2], status="failing", detail="Keap has not confirmed 1 of 3.",
        next_check_at=timezone.now() + timedelta(minutes=40),
    )  # fmt: skip
    return connections


def test_the_operations_page_shows_todays_plan_spend_projection_queue_and_hooks(
    staff_client, base, settings
):
    settings.HOOKS_ENABLED = True
    app = DeveloperApp.objects.get()
    today.act(app)  # what beat does every minute

    page = staff_client.get(reverse("operations:index")).content.decode()

    assert "Today's plan" in page
    for kind in ("goals", "changes", "upkeep", "polling", "initial", "reconcile"):
        assert f'data-kind="{kind}"' in page
    projected = re.search(r'data-ops="plan-projected">([\d,]+)', page)
    assert projected and int(projected[1].replace(",", "")) <= 135_000
    assert re.search(r'data-ops="plan-polling">2 connections without healthy hooks', page)
    assert re.search(r'data-ops="plan-pass">takes [\d.]+ day', page)
    assert "Initial syncs waiting (1)" in page and base[4].app_name in page
    # The plan has just queued the first subscription of the two never subscribed.
    assert "Verified 2 · failing (polled instead) 1 · subscribing 2 · not subscribed 0" in page


def test_before_the_first_plan_the_operations_page_says_so(staff_client, base):
    page = staff_client.get(reverse("operations:index")).content.decode()

    assert "No plan yet" in page


def _page(client, connection) -> str:
    return client.get(reverse("connections:detail", args=[connection.pk])).content.decode()


def test_a_connection_keap_pushes_says_so_with_the_last_change(owner_client, base, settings):
    settings.HOOKS_ENABLED = True
    HookDelivery.objects.create(
        connection_id=base[0].pk, event_key="contact.edit", ids=[[5, ""]],
        received_at=timezone.now() - timedelta(minutes=3),
    )  # fmt: skip

    page = _page(owner_client, base[0])

    assert "Keap pushes this connection's changes" in page
    assert "The last change came 3" in page


def test_a_failing_connection_says_it_is_polled_why_and_when_keap_is_asked_again(
    owner_client, base, settings
):
    settings.HOOKS_ENABLED = True
    today.act(DeveloperApp.objects.get())
    plan = DeveloperApp.objects.get().plan.data
    minutes = round(plan["poll_interval_s"] / 60)

    page = _page(owner_client, base[2])

    assert f"Checked every {minutes} minute" in page
    assert "Keap has not confirmed 1 of 3." in page
    assert "Onramp asks Keap again at" in page


def test_with_hooks_off_every_connection_is_polled_and_the_page_says_so(
    owner_client, base, settings
):
    settings.HOOKS_ENABLED = False

    page = _page(owner_client, base[3])

    assert "REST hooks are turned off" in page
