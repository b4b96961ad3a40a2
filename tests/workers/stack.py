"""Onramp as production runs it, every part a real process: the Keap sandbox (the `keap` fixture),
gunicorn, a Celery worker and beat; and a customer's browser driving it over HTTP."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import child_env
from tests.factories import PASSWORD
from tests.workers.celery_worker import CeleryWorker
from tests.workers.processes import CeleryBeat, WebServer

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@contextmanager
def running_stack(keap, settings, tmp_path: Path, **env: str) -> Iterator[WebServer]:
    """Web, worker and beat on this test's database and broker, Keap's redirect URI on the web
    server; `env` adds to (or overrides) the processes' environment."""
    web = WebServer({}, tmp_path / "web.log")
    settings.KEAP_REDIRECT_URI = f"{web.url}/connections/keap/callback"
    keap.set_redirect_uris([settings.KEAP_REDIRECT_URI])
    web.env = {
        **child_env(settings),
        "SITE_URL": web.url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "KEAP_REDIRECT_URI": settings.KEAP_REDIRECT_URI,
        **env,
    }
    worker = CeleryWorker(web.env, tmp_path / "worker.log")
    beat = CeleryBeat(web.env, tmp_path / "beat.log")
    try:
        web.start()
        worker.start()
        beat.start()
        yield web
    finally:
        for process in (beat, worker, web):
            process.stop()


def csrf(browser: requests.Session, url: str) -> str:
    return CSRF.search(browser.get(url, timeout=10).text)[1]


def browser_signs_in(web: WebServer, email: str) -> requests.Session:
    browser = requests.Session()
    page = f"{web.url}/accounts/login/"
    response = browser.post(
        page,
        data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": csrf(browser, page)},
        headers={"Referer": page},
        timeout=10,
    )
    assert response.status_code == 200 and "Sign out" in response.text, response.text[:500]
    return browser


def browser_connects(web: WebServer, browser: requests.Session, keap, tenant: str):
    """Connect Keap as a browser does it: Onramp, Keap's consent page, Onramp's callback."""
    dashboard = f"{web.url}/connections/"
    start = browser.post(
        f"{web.url}/connections/keap/start",
        data={"csrfmiddlewaretoken": csrf(browser, dashboard)},
        headers={"Referer": dashboard}, allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert start.status_code == 302, start.text[:500]
    params = keap.consent(start.headers["Location"], app=tenant)
    callback = browser.get(f"{web.url}/connections/keap/callback", params=params, timeout=30)
    return start.headers["Location"], params, callback


def verified_subscriptions(keap, tenant: str, *, timeout: float = 120) -> list[dict]:
    """Wait until Keap holds the connection's three subscriptions, each Verified; return them."""
    from tests.hooks.conftest import wait_for

    def three() -> list[dict] | None:
        verified = [s for s in keap.hooks(tenant) if s["status"] == "Verified"]
        return verified if len(verified) == 3 else None

    return wait_for(three, what="three verified subscriptions", timeout=timeout)
