"""Run the Keap sandbox as a real process for tests, and drive it over HTTP.

`SandboxServer` starts `python -m webapp.sandbox serve` on a free loopback port with its own
SQLite file, waits until it answers, and stops it again. `run_sandbox()` wraps that in a context
manager. Nothing here imports the sandbox's code: tests see it only as Keap would be seen.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

PROJECT_DIR = Path(__file__).resolve().parents[2]
CLIENT_ID = "onramp-test-client"
CLIENT_SECRET = "onramp-test-secret"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/connections/keap/callback"
DEMO_PASSWORD = "sandbox"
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SandboxServer:
    """One sandbox process on a loopback port, with its database in `workdir`."""

    def __init__(
        self,
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        redirect_uris: list[str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.redirect_uris = list(redirect_uris or [DEFAULT_REDIRECT_URI])
        self.extra_env = dict(env or {})
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "sandbox.log"

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "SANDBOX_DATABASE_URL": f"sqlite:///{self.workdir / 'sandbox.sqlite3'}",
            "SANDBOX_CLIENT_ID": self.client_id,
            "SANDBOX_CLIENT_SECRET": self.client_secret,
            "SANDBOX_REDIRECT_URIS": ",".join(self.redirect_uris),
            "SANDBOX_WORKERS": "2",
            "SANDBOX_THREADS": "4",
            **self.extra_env,
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        return env

    def seed_offline(self, contacts: int, tenants: list[str] | None = None) -> None:
        """Run `python -m webapp.sandbox seed --contacts N` on this sandbox's database (bulk)."""
        argv = [sys.executable, "-m", "webapp.sandbox", "seed", "--contacts", str(contacts)]
        for tenant in tenants or []:
            argv += ["--tenant", tenant]
        subprocess.run(argv, cwd=PROJECT_DIR, env=self._env(), check=True, capture_output=True)

    def start(self, timeout: float = 30.0) -> "SandboxServer":
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = self._env()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webapp.sandbox", "serve", "--port", str(self.port)],
                cwd=PROJECT_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_until_up(timeout)
        return self

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Keap sandbox exited early:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/sandbox/api/stats", timeout=3).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Keap sandbox did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> "SandboxServer":
        """Stop and start again on the same database (the port may change)."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # Simulator controls -------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Request counts by endpoint name, e.g. {"token:authorization_code": 1}."""
        response = requests.get(f"{self.url}/sandbox/api/stats", timeout=5)
        response.raise_for_status()
        return response.json()["requests"]

    def reset_stats(self) -> None:
        requests.post(f"{self.url}/sandbox/api/stats/reset", timeout=5).raise_for_status()

    def set_redirect_uris(self, uris: list[str]) -> None:
        response = requests.put(
            f"{self.url}/sandbox/api/app", json={"redirect_uris": list(uris)}, timeout=5
        )
        response.raise_for_status()
        self.redirect_uris = list(uris)

    def revoke(self, app: str) -> int:
        """Revoke every grant for a tenant; return how many were revoked."""
        response = requests.post(f"{self.url}/sandbox/api/tenants/{app}/revoke", timeout=5)
        response.raise_for_status()
        return response.json()["revoked_grants"]

    def _control(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, f"{self.url}/sandbox/api/{path}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def settings(self) -> dict:
        """Every switch and limit as the sandbox applies them now."""
        return self._control("GET", "settings")["settings"]

    def set_settings(self, **values) -> dict:
        """Override switches or limits, e.g. `set_settings(throttle_body="fault")`."""
        return self._control("PUT", "settings", json=values)["settings"]

    def set_limits(self, **limits: int) -> dict:
        """Override limits by name, e.g. `set_limits(app_limit_per_minute=5)`."""
        return self.set_settings(**limits)

    def reset_settings(self) -> dict:
        """Drop every override: the environment's defaults apply again."""
        return self._control("DELETE", "settings")["settings"]

    def advance_clock(self, seconds: float) -> dict:
        """Move the sandbox clock forward (token expiry, quota windows, UTC days)."""
        return self._control("POST", "clock", json={"advance": seconds})

    def now_ms(self) -> int:
        """The sandbox clock, in epoch milliseconds."""
        return self._control("GET", "clock")["epoch_ms"]

    def inject(
        self,
        kind: str,
        *,
        tenant: str | None = None,
        count: int | None = None,
        probability: float | None = None,
        path_prefix: str = "",
        **params,
    ) -> dict:
        """Inject a fault: kind latency (ms), error (status), timeout (seconds, then="504" or
        "close", processed), malformed (mode="truncated" or "html"); for the next `count`
        matching requests or with a `probability`. Returns the fault as stored."""
        if count is None and probability is None:
            count = 1
        body = {"kind": kind, "tenant": tenant, "path_prefix": path_prefix, **params}
        body.update({"count": count} if count is not None else {"probability": probability})
        return self._control("POST", "faults", json=body)

    def faults(self) -> list[dict]:
        return self._control("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def counts(self) -> dict:
        """Traffic seen: {"tenants": {app: {endpoint: {"calls", "throttled"}}}, "calls",
        "throttled", "goals_achieved"}."""
        return self._control("GET", "stats")["traffic"]

    def goal_achievements(self, tenant: str | None = None) -> list[dict]:
        """Every recorded achieve-goal call: tenant, contact_id, integration, call_name,
        goal_ids (the goals it fired), api (v1, v2, xmlrpc), time."""
        params = {"tenant": tenant} if tenant else {}
        return self._control("GET", "goals/achievements", params=params)["achievements"]

    def clear_goal_achievements(self) -> None:
        self._control("DELETE", "goals/achievements")

    def code_exchanges(self) -> list[dict]:
        """Every authorization-code exchange the token endpoint received, oldest first: what the
        authorization request carried (`authorize`: redirect_uri, state, code_challenge,
        code_challenge_method; null for a code never issued), the token request's `redirect_uri`
        and `code_verifier_s256` (the S256 of the verifier it sent, "" for none), and `error`
        ("" when tokens were issued)."""
        return self._control("GET", "oauth/exchanges")["exchanges"]

    def clear_code_exchanges(self) -> None:
        self._control("DELETE", "oauth/exchanges")

    def reset_quota(self) -> None:
        """Forget every quota window and day count."""
        self._control("POST", "quota/reset")

    def create_api_key(self, tenant: str, kind: str = "pat") -> str:
        """Create a PAT or SAK for a tenant and return its value (send as X-Keap-API-Key)."""
        return self._control("POST", f"tenants/{tenant}/api-keys", json={"kind": kind})["key"]

    def seed_contacts(self, tenant: str, n: int) -> None:
        """Replace a tenant's contacts with n deterministic seeded ones (ids 1..n)."""
        self._control("POST", f"tenants/{tenant}/contacts/seed", json={"count": n})

    def create_tenant(
        self,
        app_name: str,
        *,
        name: str = "",
        users: list[str] | None = None,
        contacts: int | None = None,
    ) -> dict:
        """Add (or update) a tenant, seat `users` (emails) in it, and seed `contacts` if given."""
        body: dict = {"app_name": app_name, "users": list(users or [])}
        if name:
            body["name"] = name
        if contacts is not None:
            body["contacts"] = contacts
        return self._control("POST", "tenants", json=body)

    def touch_contacts(
        self, tenant: str, *, count: int | None = None, ids: list[int] | None = None, seed: int = 0
    ) -> dict:
        """Move some contacts' last-updated to now; returns {"ids", "updated_ms", "update_time"}."""
        body = {"ids": ids} if ids is not None else {"count": count, "seed": seed}
        return self._control("POST", f"tenants/{tenant}/contacts/touch", json=body)

    def delete_contacts(
        self, tenant: str, *, count: int | None = None, ids: list[int] | None = None, seed: int = 0
    ) -> list[int]:
        """Delete contacts as a person would; returns the ids that existed and were deleted."""
        body = {"ids": ids} if ids is not None else {"count": count, "seed": seed}
        return self._control("POST", f"tenants/{tenant}/contacts/delete", json=body)["ids"]

    def play(self, tenant: str, **body) -> dict:
        """Edits made in Keap's web app: `play(app, adds=3, edits=2, deletes=1)` makes them now
        and returns {"added", "edited", "deleted": [ids], ...}; with `rate=` (and `duration=`)
        it starts a player and returns {"player": {...}}."""
        return self._control("POST", f"tenants/{tenant}/contacts/play", json=body)

    def players(self, tenant: str) -> list[dict]:
        return self._control("GET", f"tenants/{tenant}/contacts/play")["players"]

    def stop_players(self, tenant: str) -> dict:
        return self._control("DELETE", f"tenants/{tenant}/contacts/play")

    # REST hooks -------------------------------------------------------------------------------

    def hooks(self, tenant: str | None = None) -> list[dict]:
        """Every subscription (or one tenant's): key, eventKey, hookUrl, status, owner, ..."""
        if tenant:
            return self._control("GET", f"tenants/{tenant}/hooks")["subscriptions"]
        return self._control("GET", "hooks")["subscriptions"]

    def delete_all_hooks(self) -> int:
        return self._control("DELETE", "hooks")["deleted"]

    def deliveries(self, **filters) -> list[dict]:
        """Delivery batches with every attempt; filters: tenant, key, event_key, state, after,
        limit, payload."""
        return self._control("GET", "hooks/deliveries", params=filters)["deliveries"]

    def clear_deliveries(self, tenant: str | None = None) -> int:
        params = {"tenant": tenant} if tenant else {}
        return self._control("DELETE", "hooks/deliveries", params=params)["deleted"]

    def inject_hook_fault(
        self,
        kind: str,
        *,
        tenant: str | None = None,
        count: int | None = None,
        probability: float | None = None,
        **params,
    ) -> dict:
        """A delivery fault: drop, delay (seconds), duplicate, reorder, error (status, sent),
        timeout (sent); for the next `count` deliveries or with a `probability`."""
        if count is None and probability is None:
            count = 1
        body = {"kind": kind, "tenant": tenant, **params}
        body.update({"count": count} if count is not None else {"probability": probability})
        return self._control("POST", "hooks/faults", json=body)

    def hook_faults(self) -> list[dict]:
        return self._control("GET", "hooks/faults")["faults"]

    def clear_hook_faults(self) -> None:
        self._control("DELETE", "hooks/faults")

    def issue_tokens(self, *, app: str = "ab123", email: str = "alex@sandbox.keap.test") -> dict:
        """Run consent and the code exchange; return Keap's token JSON."""
        params = self.consent(self.authorize_url(state="s"), email=email, app=app)
        response = requests.post(
            f"{self.url}/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": self.redirect_uris[0],
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    # Playing the browser ------------------------------------------------------------------

    def authorize_url(self, *, redirect_uri: str | None = None, **params: str) -> str:
        """Keap's authorize URL for the registered client, as a connecting app would build it."""
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri or self.redirect_uris[0],
            "response_type": "code",
            "scope": "full",
            **params,
        }
        return f"{self.url}/app/oauth/authorize?{urlencode(query)}"

    def sign_in(
        self, browser: requests.Session, email: str, password: str = DEMO_PASSWORD
    ) -> requests.Response:
        """Sign `browser` in to the sandbox as a Keap user."""
        page = browser.get(f"{self.url}/app/login", timeout=5)
        return browser.post(
            f"{self.url}/app/login",
            data={
                "csrfmiddlewaretoken": csrf_token(page.text),
                "email": email,
                "password": password,
                "next": "/sandbox/",
            },
            allow_redirects=False,
            timeout=5,
        )

    def consent(
        self,
        authorize_url: str,
        *,
        email: str = "alex@sandbox.keap.test",
        app: str = "ab123",
        decision: str = "allow",
        browser: requests.Session | None = None,
    ) -> dict[str, str]:
        """Follow a Keap authorize URL as a user who signs in and clicks Allow or Deny.

        Returns the query parameters of the redirect back to the client (code, scope, state or
        error). Raises AssertionError when the sandbox does not redirect.
        """
        browser = browser or requests.Session()
        page = browser.get(authorize_url, timeout=5)
        if "Sign in to Keap" in page.text:
            self.sign_in(browser, email)
            page = browser.get(authorize_url, timeout=5)
        assert page.status_code == 200, page.text
        response = browser.post(
            authorize_url,
            data={"csrfmiddlewaretoken": csrf_token(page.text), "app": app, "decision": decision},
            allow_redirects=False,
            timeout=5,
        )
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def bearer(token: str) -> dict[str, str]:
    """Headers that present an access token the way Keap expects it."""
    return {"Authorization": f"Bearer {token}"}


def csrf_token(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@contextmanager
def run_sandbox(workdir: Path, **kwargs) -> Iterator[SandboxServer]:
    """Start a sandbox in `workdir`, yield it, and always stop it."""
    server = SandboxServer(workdir, **kwargs)
    try:
        yield server.start()
    finally:
        server.stop()
