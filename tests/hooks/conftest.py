"""REST hooks end to end: the Keap sandbox posting to a live Onramp, through a receiver that can go
down, with Keap's delivery delays shortened to fractions of a second."""

import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.loopback import serving
from tests.sync.conftest import drive, enqueued, sync_settings  # noqa: F401

# Keap's policy, shortened: first attempt 0.2-0.4 s after a change, retries 0.2-0.3 s, 0.3 s and
# 0.4 s after each failure; no answer within 2 s is a failure.
QUICK_HOOKS = {
    "hook_first_delay_min_seconds": 0.2,
    "hook_first_delay_max_seconds": 0.4,
    "hook_retry1_min_seconds": 0.2,
    "hook_retry1_max_seconds": 0.3,
    "hook_retry2_seconds": 0.3,
    "hook_retry3_seconds": 0.4,
    "hook_timeout_seconds": 2,
}


class _Forward(BaseHTTPRequestHandler):
    server: "_Receiver"

    def do_POST(self) -> None:
        if self.server.down:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        answer = requests.post(
            self.server.target + self.path, data=body, headers=headers, timeout=10,
            allow_redirects=False,
        )  # fmt: skip
        self.server.seen.append((self.path, answer.status_code))
        self.send_response(answer.status_code)
        for name in ("Content-Type", "X-Hook-Secret"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: object) -> None:
        pass


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.target = target
        self.down = False
        self.seen: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def receiver(live_server):
    """Onramp's public side as Keap reaches it: forwards to the live server; `.down = True` makes
    it answer 503, as a site in trouble would."""
    with serving(_Receiver(live_server.url)) as server:
        yield server


@pytest.fixture
def hooks_on(keap, settings, receiver):
    """Hooks on, SITE_URL at the receiver, Keap's delivery policy shortened."""
    settings.SITE_URL = receiver.url
    settings.HOOKS_ENABLED = True
    settings.HOOKS_RETRY_BASE_SECONDS = 1
    settings.HOOKS_SECRET_CACHE_SECONDS = 0  # a replaced secret or a disconnect at once
    keap.set_settings(**QUICK_HOOKS)
    return keap


@pytest.fixture
def hooked(owner_client, connect, make_tenant, enqueued, sync_settings, hooks_on, eager_celery):  # noqa: F811
    """A tenant of its own, connected (its subscriptions made on commit, as in production) and
    fully synced; returns (tenant, connection)."""

    def make(contacts: int = 120):
        tenant = make_tenant(contacts)
        connection = connect(owner_client, app=tenant)
        run = drive(enqueued[-1])
        assert run.status == "succeeded", run.error
        return tenant, connection

    return make


def wait_for(condition: Callable[[], object], *, timeout: float = 20, what: str = "it") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def keap_contacts(keap, tenant: str) -> dict[int, str]:
    """Every contact Keap has for the tenant: id -> update_time (read through Keap's v2 API)."""
    token = keap.issue_tokens(app=tenant)["access_token"]
    found: dict[int, str] = {}
    page_token = ""
    while True:
        params = {"page_size": 1000, "fields": "update_time"}
        if page_token:
            params["page_token"] = page_token
        body = requests.get(
            f"{keap.url}/crm/rest/v2/contacts", params=params,
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        ).json()  # fmt: skip
        found.update({int(c["id"]): c.get("update_time", "") for c in body["contacts"]})
        page_token = body.get("next_page_token") or ""
        if not page_token:
            return found
