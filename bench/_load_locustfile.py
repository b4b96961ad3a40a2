"""Locust users for bench/load.py: customers who sign in, then browse dashboard and connection.

Run by bench/load.py in a process of its own (locust's gevent monkey-patching stays out of the
process that set up Django). Reads the seeded customers from the JSON file named by
ONRAMP_LOAD_CUSTOMERS: [{"email", "password", "connection", "session"}].

Sign-ins are paced: allauth allows 30 login POSTs a minute per client IP, and every simulated
customer here comes from 127.0.0.1. Each customer signs in once when it starts and then browses,
as people do; now and then one signs out and in again, but only while this process has made fewer
than ONRAMP_LOAD_SIGNINS_PER_MINUTE (default 24) sign-ins in the last minute, so the benchmark
measures sign-in under load without tripping (or loosening) the throttle.

Cookies: with DEBUG off Onramp marks its session and CSRF cookies Secure, and this benchmark talks
plain HTTP to 127.0.0.1. http.cookiejar (behind locust's clients) sends Secure cookies only over
https; browsers also send them to http://127.0.0.1 and http://localhost, which they treat as
secure contexts. `LoopbackIsSecure` gives the simulated customers that browser rule, for loopback
only. The app's cookie flags stay exactly as production sets them (bench/load.py checks that they
are Secure before it starts).
"""

import itertools
import json
import os
import re
import time
from collections import deque
from http.cookiejar import DefaultCookiePolicy
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

import gevent
from locust import FastHttpUser, between, task
from requests.cookies import create_cookie

CUSTOMERS = json.loads(Path(os.environ["ONRAMP_LOAD_CUSTOMERS"]).read_text())
_next_customer = itertools.cycle(CUSTOMERS)
SIGNINS_PER_MINUTE = int(os.environ.get("ONRAMP_LOAD_SIGNINS_PER_MINUTE", "24"))
# Customers start signed in (ONRAMP_LOAD_SIGNED_IN=1), with the sessions bench/_stack.py made.
SIGNED_IN = os.environ.get("ONRAMP_LOAD_SIGNED_IN") == "1"
_signins: deque[float] = deque()
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HTMX = {"HX-Request": "true"}


class LoopbackIsSecure(DefaultCookiePolicy):
    """http.cookiejar's policy, except that loopback counts as secure, as in browsers."""

    def return_ok_secure(self, cookie, request) -> bool:
        host = urlsplit(request.get_full_url()).hostname or ""
        if host == "localhost" or _is_loopback(host):
            return True
        return super().return_ok_secure(cookie, request)


def _is_loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _take_signin_slot(*, wait: bool) -> bool:
    """Reserve one sign-in within this process's per-minute budget (gevent: no lock needed)."""
    while True:
        now = time.monotonic()
        while _signins and now - _signins[0] > 61:
            _signins.popleft()
        if len(_signins) < SIGNINS_PER_MINUTE:
            _signins.append(now)
            return True
        if not wait:
            return False
        gevent.sleep(61 - (now - _signins[0]) + 0.1)


class Customer(FastHttpUser):
    """A signed-in customer looking at their connection."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.client.cookiejar.set_policy(LoopbackIsSecure())
        self.customer = next(_next_customer)
        self.pk = self.customer["connection"]
        if SIGNED_IN:  # arrives with the session a sign-in left
            self.client.cookiejar.set_cookie(
                create_cookie(
                    "sessionid",
                    self.customer["session"],
                    domain=urlsplit(self.host).hostname,
                    secure=True,
                )
            )
            return
        _take_signin_slot(wait=True)
        self.sign_in()

    def _csrf(self, html: str) -> str:
        match = _CSRF.search(html)
        return match.group(1) if match else ""

    def sign_in(self) -> None:
        form = self.client.get("/accounts/login/", name="sign_in_form")
        with self.client.post(
            "/accounts/login/",
            data={
                "csrfmiddlewaretoken": self._csrf(form.text),
                "login": self.customer["email"],
                "password": self.customer["password"],
            },
            headers={"Referer": f"{self.host}/accounts/login/"},
            allow_redirects=False,
            name="sign_in",
            catch_response=True,
        ) as response:
            if response.status_code != 302 or response.headers.get("Location") != "/connections/":
                response.failure(
                    f"sign-in did not redirect to the dashboard: {response.text[:300]}"
                )

    @task(1)
    def sign_out_and_in(self) -> None:
        if not _take_signin_slot(wait=False):
            return self.dashboard()
        page = self.client.get("/connections/", name="dashboard")
        self.client.post(
            "/accounts/logout/",
            data={"csrfmiddlewaretoken": self._csrf(page.text)},
            allow_redirects=False,
            name="sign_out",
        )
        self.sign_in()

    @task(4)
    def dashboard(self) -> None:
        self._get("/connections/", "dashboard", "Bench business")

    @task(4)
    def connection(self) -> None:
        self._get(f"/connections/{self.pk}/", "connection", "Bench business")

    @task(3)
    def sync_progress(self) -> None:
        self._get(f"/sync/connections/{self.pk}/progress", "sync_progress", htmx=True)

    @task(3)
    def contacts_page(self) -> None:
        self._get(f"/sync/connections/{self.pk}/contacts?page=2", "contacts", htmx=True)

    @task(2)
    def contacts_search(self) -> None:
        self._get(f"/sync/connections/{self.pk}/contacts?q=son", "contacts_search", htmx=True)

    @task(3)
    def usage_panel(self) -> None:
        self._get(f"/usage/connections/{self.pk}/panel", "usage_panel", htmx=True)

    @task(2)
    def goals_panel(self) -> None:
        self._get(f"/goals/connections/{self.pk}/", "goals_panel", htmx=True)

    def _get(self, path: str, name: str, expect: str = "", *, htmx: bool = False) -> None:
        with self.client.get(
            path,
            name=name,
            headers=HTMX if htmx else None,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.headers.get('Location', '')}")
            elif expect and expect not in response.text:
                response.failure(f"page lacks {expect!r}: {response.text[:200]}")
