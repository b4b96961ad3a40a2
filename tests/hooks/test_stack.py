"""Keap pushes a connection's changes through the whole stack, every part a real process: the Keap
sandbox, Onramp's web server (gunicorn), a Celery worker and beat."""

import re

import pytest
import requests

from tests.conftest import child_env
from tests.factories import PASSWORD, UserFactory
from tests.hooks.conftest import QUICK_HOOKS, keap_contacts, wait_for
from tests.workers.celery_worker import CeleryWorker
from tests.workers.processes import CeleryBeat, WebServer
from webapp.keap.results import parse_timestamp
from webapp.sync.models import Contact, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def stack(keap, settings, tmp_path, make_tenant):
    """Web, worker and beat on this test's database, with Keap's hook delays shortened."""
    web = WebServer({}, tmp_path / "web.log")
    settings.KEAP_REDIRECT_URI = f"{web.url}/connections/keap/callback"
    keap.set_redirect_uris([settings.KEAP_REDIRECT_URI])
    keap.set_settings(**QUICK_HOOKS)
    env = {
        **child_env(settings),
        "SITE_URL": web.url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "KEAP_REDIRECT_URI": settings.KEAP_REDIRECT_URI,
        "HOOKS_ENABLED": "true",
        "SYNC_PAGE_SIZE": "100",
    }
    web.env = env
    worker = CeleryWorker(env, tmp_path / "worker.log")
    beat = CeleryBeat(env, tmp_path / "beat.log")
    try:
        web.start()
        worker.start()
        beat.start()
        yield web
    finally:
        for process in (beat, worker, web):
            process.stop()


def _browser_signs_in(web: WebServer, email: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{web.url}/accounts/login/", timeout=10)
    response = browser.post(
        f"{web.url}/accounts/login/",
        data={
            "login": email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": CSRF.search(page.text)[1],
        },
        headers={"Referer": f"{web.url}/accounts/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "Sign out" in response.text, response.text[:500]
    return browser


def _csrf(browser: requests.Session, url: str) -> str:
    return CSRF.search(browser.get(url, timeout=10).text)[1]


def test_keap_pushes_changes_through_web_worker_and_beat_until_disconnect(stack, keap, make_tenant):
    tenant = make_tenant(150)
    user = UserFactory(email="pushed@example.com")
    browser = _browser_signs_in(stack, user.email)

    # The customer connects, as a browser does it: Onramp, Keap's consent page, Onramp again.
    dashboard = f"{stack.url}/connections/"
    start = browser.post(
        f"{stack.url}/connections/keap/start",
        data={"csrfmiddlewaretoken": _csrf(browser, dashboard)},
        headers={"Referer": dashboard}, allow_redirects=False, timeout=10,
    )  # fmt: skip
    params = keap.consent(start.headers["Location"], app=tenant)
    callback = browser.get(f"{stack.url}/connections/keap/callback", params=params, timeout=30)
    assert callback.status_code == 200 and tenant in callback.text

    subscriptions = wait_for(
        lambda: [s for s in keap.hooks(tenant) if s["status"] == "Verified"] if len(
            [s for s in keap.hooks(tenant) if s["status"] == "Verified"]) == 3 else None,
        what="three verified subscriptions", timeout=60,
    )  # fmt: skip
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
        page, data={"csrfmiddlewaretoken": _csrf(browser, page)},
        headers={"Referer": page}, timeout=30,
    )  # fmt: skip
    assert gone.status_code == 200
    assert keap.hooks(tenant) == []
