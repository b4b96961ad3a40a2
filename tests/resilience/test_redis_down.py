"""Redis away (cache, broker and limiter at once): every page a customer uses answers, sign-in's
brute-force limits still hold, nothing is lost, and what cannot be done now is a deliberate 503.

Onramp runs as deployed (gunicorn) against a Redis of the test's own, which the test stops and
starts again; Keap is the sandbox."""

import re
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from tests.conftest import child_env
from tests.factories import PASSWORD, UserFactory
from tests.goals.conftest import goal_form
from tests.hooks.conftest import wait_for
from tests.workers.celery_worker import CeleryWorker
from tests.workers.processes import ROOT, RedisServer, WebServer
from tests.workers.stack import csrf
from webapp.goals.models import ApiKey, GoalCompletion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis.log").start()
    yield server
    server.stop()


@pytest.fixture
def web(keap, settings, tmp_path, redis_server):
    server = WebServer({}, tmp_path / "web.log")
    settings.KEAP_REDIRECT_URI = f"{server.url}/connections/keap/callback"
    keap.set_redirect_uris([settings.KEAP_REDIRECT_URI])
    server.env = {
        **child_env(settings),
        "REDIS_URL": redis_server.url,
        "SITE_URL": server.url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "KEAP_REDIRECT_URI": settings.KEAP_REDIRECT_URI,
    }
    server.start()
    yield server
    server.stop()


def _sign_in(
    web: WebServer, email: str, password: str = PASSWORD
) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    page = f"{web.url}/accounts/login/"
    token = csrf(browser, page)
    response = browser.post(
        page, data={"login": email, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": page}, timeout=30,
    )  # fmt: skip
    return browser, response


def test_with_redis_away_pages_answer_limits_hold_and_a_goal_waits_for_its_return(
    web, redis_server, keap, connect, owner, owner_client, settings, tmp_path
):
    connection = connect(owner_client, app="ab123")
    keap.clear_goal_achievements()
    _, key = ApiKey.issue(owner=owner, name="orders")
    # A second Keap app's connect, begun before Redis goes: the customer is on Keap's page.
    early, _ = _sign_in(web, owner.email)
    dashboard = f"{web.url}/connections/"
    begun = early.post(
        f"{web.url}/connections/keap/start",
        data={"csrfmiddlewaretoken": csrf(early, dashboard)},
        headers={"Referer": dashboard}, allow_redirects=False, timeout=30,
    )  # fmt: skip
    answer = keap.consent(begun.headers["Location"], app="cd456")
    redis_server.stop()

    # Sign-in: the page, a wrong password, the per-account limit, and a customer who gets in.
    target = UserFactory(email="target@example.com")
    for _ in range(5):
        _, wrong = _sign_in(web, target.email, "not-the-password")
        assert wrong.status_code == 200 and "not correct" in wrong.text
    _, blocked = _sign_in(web, target.email, PASSWORD)  # even the right one, for a while
    assert blocked.status_code == 200 and "Too many failed login attempts" in blocked.text
    assert "Sign out" not in blocked.text
    browser, signed_in = _sign_in(web, owner.email)
    assert signed_in.status_code == 200 and "Sign out" in signed_in.text

    # The customer's pages.
    assert browser.get(f"{web.url}/connections/", timeout=30).status_code == 200
    page = f"{web.url}/connections/{connection.pk}/"
    assert browser.get(page, timeout=30).status_code == 200

    # A goal from the page is accepted and shown queued; one through the API answers 202.
    request = f"{web.url}{reverse('goals:request', args=[connection.pk])}"
    shown = browser.post(
        request, data={**goal_form(contact_id=5), "csrfmiddlewaretoken": csrf(browser, page)},
        headers={"Referer": page, "HX-Request": "true"}, timeout=30,
    )  # fmt: skip
    assert shown.status_code == 200 and re.search(r"[Qq]ueued", shown.text), shown.text[:800]
    api = requests.post(
        f"{web.url}{reverse('goals:api_request_goal', args=[connection.pk])}",
        json={"contact_id": 7, "call_name": "purchased", "idempotency_key": "redis-away-1"},
        headers={"Authorization": f"Bearer {key}"}, timeout=30,
    )  # fmt: skip
    assert api.status_code == 202 and api.json()["status"] == "queued", api.text

    # Connecting cannot finish without the limiter: a deliberate 503 before Keap is asked.
    start = browser.post(
        f"{web.url}/connections/keap/start",
        data={"csrfmiddlewaretoken": csrf(browser, dashboard)},
        headers={"Referer": dashboard}, allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert start.status_code == 503 and "try again" in start.text.lower()
    assert start.headers.get("Retry-After")
    callback = f"{web.url}/connections/keap/callback"
    refused = early.get(callback, params=answer, timeout=30)
    assert refused.status_code == 503 and "nothing was asked of keap" in refused.text.lower()

    # Redis returns; the goals' watchdog finds both waiting and a worker delivers each once.
    redis_server.start()
    # As if the watchdog's 15 minutes had passed.
    GoalCompletion.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
    worker = CeleryWorker(web.env, tmp_path / "worker.log").start()
    try:
        _recover_goals(web.env)
        wait_for(
            lambda: set(GoalCompletion.objects.values_list("status", flat=True)) == {"succeeded"},
            what="both goals delivered", timeout=90,
        )  # fmt: skip
    finally:
        worker.stop()
    calls = keap.goal_achievements("ab123")
    assert sorted(c["contact_id"] for c in calls) == [5, 7]
    # Keap's code was not spent: the same answer finishes the connect now.
    finished = early.get(callback, params=answer, timeout=30)
    assert finished.status_code == 200 and "cd456" in finished.text


def _recover_goals(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "webapp", "call", "webapp.goals.tasks.recover_goals"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
