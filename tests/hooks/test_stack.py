"""Keap pushes a connection's changes through the whole stack, every part a real process: the Keap
sandbox, Onramp's web server (gunicorn), a Celery worker and beat."""

import pytest

from tests.factories import UserFactory
from tests.hooks.conftest import QUICK_HOOKS, keap_contacts, wait_for
from tests.workers.stack import (
    browser_connects,
    browser_signs_in,
    csrf,
    running_stack,
    verified_subscriptions,
)
from webapp.keap.results import parse_timestamp
from webapp.sync.models import Contact, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stack(keap, settings, tmp_path):
    """Web, worker and beat on this test's database, with Keap's hook delays shortened."""
    keap.set_settings(**QUICK_HOOKS)
    with running_stack(keap, settings, tmp_path, HOOKS_ENABLED="true", SYNC_PAGE_SIZE="100") as web:
        yield web


def test_keap_pushes_changes_through_web_worker_and_beat_until_disconnect(stack, keap, make_tenant):
    tenant = make_tenant(150)
    user = UserFactory(email="pushed@example.com")
    browser = browser_signs_in(stack, user.email)

    _, _, callback = browser_connects(stack, browser, keap, tenant)
    assert callback.status_code == 200 and tenant in callback.text

    subscriptions = verified_subscriptions(keap, tenant, timeout=60)
    assert sorted(s["eventKey"] for s in subscriptions) == [
        "contact.add", "contact.delete", "contact.edit",
    ]  # fmt: skip
    assert all(s["hookUrl"].startswith(f"{stack.url}/hooks/keap/") for s in subscriptions)
    wait_for(lambda: SyncRun.objects.filter(kind="initial", status="succeeded").exists(),
             what="the first sync", timeout=120)  # fmt: skip
    connection = SyncRun.objects.get(kind="initial").connection

    # Changes made in Keap's own web app reach the copy, with no poll in between.
    played = keap.play(tenant, adds=4, edits=5, deletes=3)
    remote = {k: parse_timestamp(v) for k, v in keap_contacts(keap, tenant).items()}

    def copied() -> bool:
        local = dict(
            Contact.objects.filter(connection=connection).values_list("keap_id", "keap_updated_at")
        )
        return local == remote

    wait_for(copied, what="the copy to match Keap", timeout=120)
    assert set(played["deleted"]).isdisjoint(
        Contact.objects.filter(connection=connection).values_list("keap_id", flat=True)
    )
    kinds = set(SyncRun.objects.filter(connection=connection).values_list("kind", flat=True))
    assert kinds == {"initial", "changes"}  # no incremental poll, no reconcile

    # Disconnecting removes the subscriptions at Keap.
    page = f"{stack.url}/connections/{connection.pk}/disconnect"
    gone = browser.post(
        page, data={"csrfmiddlewaretoken": csrf(browser, page)},
        headers={"Referer": page}, timeout=30,
    )  # fmt: skip
    assert gone.status_code == 200
    assert keap.hooks(tenant) == []
