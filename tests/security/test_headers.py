"""Every main page answers with the security headers a reviewer checks, and the CSP allows no inline code."""

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

EXPECTED_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}


def csp_directives(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} appears twice in {policy!r}"
        directives[name] = sources
    return directives


def keap_origin(settings) -> str:
    parts = urlsplit(settings.KEAP_AUTHORIZE_URL)
    return f"{parts.scheme}://{parts.netloc}"


# (persona, url name, args): the pages a customer, a visitor and staff see first.
MAIN_PAGES = [
    ("anon_client", "pages:landing", ()),
    ("anon_client", "account_login", ()),
    ("anon_client", "account_signup", ()),
    ("anon_client", "capabilities:index", ()),
    ("owner_client", "connections:dashboard", ()),
    ("owner_client", "connections:detail", ("connection",)),
    ("owner_client", "capabilities:index", ()),
    ("owner_client", "mfa_index", ()),
    ("staff_client", "admin:index", ()),
    ("staff_client", "admin:accounts_user_changelist", ()),
]


def _get_page(request, persona: str, name: str, args: tuple):
    client = request.getfixturevalue(persona)
    resolved = [request.getfixturevalue(arg).pk for arg in args]
    response = client.get(reverse(name, args=resolved))
    assert response.status_code == 200, (name, response.status_code)
    return response


@pytest.mark.parametrize(("persona", "name", "args"), MAIN_PAGES)
def test_main_pages_send_every_security_header(request, settings, persona, name, args):
    response = _get_page(request, persona, name, args)

    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    directives = csp_directives(response)
    for directive, sources in EXPECTED_CSP.items():
        assert directives[directive] == sources, directive
    # Forms post to Onramp only; the connect button's redirect may go on to Keap's consent page.
    assert directives["form-action"] == ["'self'", keap_origin(settings)]


@pytest.mark.parametrize(("persona", "name", "args"), MAIN_PAGES)
def test_csp_allows_no_inline_or_eval_code(request, persona, name, args):
    response = _get_page(request, persona, name, args)

    policy = response.headers["Content-Security-Policy"]
    for loophole in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:"):
        assert loophole not in policy.split(), loophole
    # And the page itself needs none: no inline script, style block, style or on* attribute.
    html = response.content.decode()
    assert "<style" not in html
    assert " style=" not in html
    handler = re.search(r"\son[a-z]+\s*=", html)  # onclick=, onsubmit=, onload=, any on*=
    assert handler is None, handler
    for script in html.split("<script")[1:]:
        opening = script.split(">", 1)[0]
        assert " src=" in opening or 'type="application/json"' in opening, opening


def test_admin_login_redirects_with_the_security_headers(anon_client):
    response = anon_client.get("/admin/login/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_htmx_is_told_not_to_inject_styles_or_eval(anon_client):
    html = anon_client.get(reverse("pages:landing")).content.decode()

    assert (
        '<meta name="htmx-config" content=\'{"includeIndicatorStyles":false,'
        '"allowEval":false,"allowScriptTags":false}\'>'
    ) in html


def test_form_action_follows_the_configured_keap_authorize_url(anon_client, settings):
    settings.KEAP_AUTHORIZE_URL = "https://accounts.keap.example:8443/app/oauth/authorize"

    response = anon_client.get(reverse("account_login"))

    assert csp_directives(response)["form-action"] == [
        "'self'",
        "https://accounts.keap.example:8443",
    ]


# --- the OAuth callbacks: their URL carries the code and state, which no Referer may carry on ---


def test_connect_callback_sends_no_referrer_on_success(owner_client, keap):
    start = owner_client.post(reverse("connections:start"))
    params = keap.consent(start["Location"], app="ab123")

    response = owner_client.get(reverse("connections:callback"), params)

    assert response.status_code == 302
    assert response["Location"].startswith("/connections/")
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_connect_callback_sends_no_referrer_on_error_and_to_anonymous(owner_client, anon_client):
    url = reverse("connections:callback")
    error = owner_client.get(url, {"code": "stolen", "state": "forged"})
    anonymous = anon_client.get(url, {"code": "stolen", "state": "forged"})

    assert error.status_code == 400
    assert error.headers["Referrer-Policy"] == "no-referrer"
    assert anonymous.status_code == 302
    assert anonymous.headers["Referrer-Policy"] == "no-referrer"


def test_sign_in_with_keap_callback_sends_no_referrer(anon_client, keap):
    start = anon_client.post("/accounts/keap/login/")
    params = keap.consent(start["Location"], app="ab123")

    response = anon_client.get("/accounts/keap/login/callback/", params)
    forged = anon_client.get("/accounts/keap/login/callback/", {"code": "x", "state": "forged"})

    assert response.status_code == 302
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert forged.headers["Referrer-Policy"] == "no-referrer"


def test_other_pages_keep_the_site_wide_referrer_policy(owner_client):
    response = owner_client.get(reverse("connections:dashboard"))

    assert response.headers["Referrer-Policy"] == "same-origin"
