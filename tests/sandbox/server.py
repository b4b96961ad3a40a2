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

    def start(self, timeout: float = 30.0) -> "SandboxServer":
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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
