"""The authorize page: validation, sign-in, consent, Allow and Deny."""

from urllib.parse import parse_qs, urlsplit

import requests

from tests.sandbox.server import csrf_token


def _get(url: str, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).get(url, allow_redirects=False, timeout=5)


def test_unknown_client_id_gets_an_error_page_not_a_redirect(sandbox):
    response = _get(sandbox.authorize_url(client_id="not-registered", state="x"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "client_id" in response.text


def test_unregistered_redirect_uri_is_never_redirected_to(sandbox):
    evil = "https://evil.example/callback"
    response = _get(sandbox.authorize_url(redirect_uri=evil, response_type="token"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "redirect_uri" in response.text


def test_redirect_uri_must_match_exactly(sandbox):
    response = _get(sandbox.authorize_url(redirect_uri=sandbox.redirect_uris[0] + "/"))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_unsupported_response_type_redirects_with_error_and_state(sandbox):
    response = _get(sandbox.authorize_url(response_type="token", state="st1"))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(sandbox.redirect_uris[0] + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["unsupported_response_type"]
    assert query["state"] == ["st1"]


def test_scope_other_than_full_redirects_with_invalid_scope(sandbox):
    response = _get(sandbox.authorize_url(scope="contacts"))
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_scope"]
    assert "state" not in query


def test_signed_out_browser_sees_sign_in_with_demo_users(sandbox):
    response = _get(sandbox.authorize_url(state="x"))
    assert response.status_code == 200
    assert "Sign in to Keap" in response.text
    assert "Keap sandbox (simulator)" in response.text
    assert "alex@sandbox.keap.test" in response.text


def test_wrong_password_does_not_sign_in(sandbox):
    browser = requests.Session()
    response = sandbox.sign_in(browser, "alex@sandbox.keap.test", password="wrong")
    assert response.status_code == 401
    assert "incorrect" in response.text
    assert "Sign in to Keap" in _get(sandbox.authorize_url(), browser).text


def test_consent_page_lists_only_the_users_keap_apps(sandbox):
    browser = requests.Session()
    assert sandbox.sign_in(browser, "alex@sandbox.keap.test").status_code == 302
    page = _get(sandbox.authorize_url(state="x"), browser)
    assert "Onramp wants to access your Keap account" in page.text
    assert 'value="ab123"' in page.text and "Acme Bakery" in page.text
    assert 'value="cd456"' in page.text and "Cedar Dental" in page.text
    assert "ef789" not in page.text


def test_sandbox_cookies_do_not_collide_with_onramps(sandbox):
    browser = requests.Session()
    sandbox.sign_in(browser, "alex@sandbox.keap.test")
    assert set(browser.cookies.keys()) == {"keap_sandbox_session", "keap_sandbox_csrftoken"}


def test_allow_redirects_with_code_scope_and_state(sandbox):
    params = sandbox.consent(sandbox.authorize_url(state="abc123"), app="cd456")
    assert set(params) == {"code", "scope", "state"}
    assert params["scope"] == "full|cd456.infusionsoft.com"
    assert params["state"] == "abc123"


def test_allow_encodes_the_pipe_in_scope_like_keap(sandbox):
    browser = requests.Session()
    sandbox.sign_in(browser, "alex@sandbox.keap.test")
    url = sandbox.authorize_url()
    page = _get(url, browser)
    response = browser.post(
        url,
        data={"csrfmiddlewaretoken": csrf_token(page.text), "app": "ab123", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    assert "scope=full%7Cab123.infusionsoft.com" in response.headers["Location"]
    assert "state=" not in response.headers["Location"]


def test_pkce_parameters_are_accepted_and_ignored(sandbox):
    url = sandbox.authorize_url(code_challenge="x" * 43, code_challenge_method="S256", state="p")
    assert "code" in sandbox.consent(url)


def test_deny_redirects_with_access_denied(sandbox):
    params = sandbox.consent(sandbox.authorize_url(state="st9"), decision="deny")
    assert params["error"] == "access_denied"
    assert params["error_description"]
    assert params["state"] == "st9"
    assert "code" not in params


def test_user_cannot_authorize_another_users_keap_app(sandbox):
    browser = requests.Session()
    sandbox.sign_in(browser, "sam@sandbox.keap.test")
    url = sandbox.authorize_url()
    page = _get(url, browser)
    response = browser.post(
        url,
        data={"csrfmiddlewaretoken": csrf_token(page.text), "app": "ab123", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_consent_post_without_csrf_token_is_refused(sandbox):
    browser = requests.Session()
    sandbox.sign_in(browser, "alex@sandbox.keap.test")
    response = browser.post(
        sandbox.authorize_url(),
        data={"app": "ab123", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 403


def test_sign_out_from_the_consent_page_shows_sign_in_again(sandbox):
    browser = requests.Session()
    sandbox.sign_in(browser, "alex@sandbox.keap.test")
    url = sandbox.authorize_url(state="x")
    page = _get(url, browser)
    next_path = url[len(sandbox.url) :]
    response = browser.post(
        f"{sandbox.url}/app/logout",
        data={"csrfmiddlewaretoken": csrf_token(page.text), "next": next_path},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == next_path
    assert "Sign in to Keap" in _get(url, browser).text
