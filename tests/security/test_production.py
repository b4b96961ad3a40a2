"""With DEBUG off, what a browser is told: HSTS, HTTPS only, and Secure, HttpOnly, SameSite cookies."""

import json
import subprocess
import sys

import pytest

from tests.test_settings import ROOT, production_env


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    """Run tests/security/production_probe.py under production settings and read its report."""
    env = production_env(tmp_path_factory.mktemp("production-probe"))
    result = subprocess.run(
        [sys.executable, "-m", "tests.security.production_probe"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plain_http_is_sent_to_https(seen):
    assert seen["plain_http"]["status"] == 301
    assert seen["plain_http"]["location"] == "https://onramp.example.com/accounts/login/"


@pytest.mark.parametrize("page", ["sign_in_page", "sign_in", "dashboard"])
def test_https_responses_carry_hsts_and_the_other_security_headers(seen, page):
    headers = seen[page]["headers"]

    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "form-action 'self' https://accounts.infusionsoft.com" in csp


def test_signed_in_customer_reached_the_dashboard(seen):
    assert seen["sign_in"]["status"] == 302
    assert seen["dashboard"]["status"] == 200


def test_session_and_csrf_cookies_are_secure_httponly_and_same_site_lax(seen):
    cookies = {**seen["sign_in_page"]["cookies"], **seen["sign_in"]["cookies"]}

    assert {"csrftoken", "sessionid"} <= set(cookies)
    for name in ("csrftoken", "sessionid"):
        assert cookies[name] == {
            "secure": True,
            "httponly": True,
            "samesite": "Lax",
            "deleted": False,
        }, name


def test_every_cookie_set_is_secure_and_httponly(seen):
    for page in ("sign_in_page", "sign_in", "dashboard"):
        for name, flags in seen[page]["cookies"].items():
            if not flags["deleted"]:
                assert flags["secure"] and flags["httponly"], (page, name)
