"""Simulator-only controls: request counts, redirect URI registration, tenant revocation."""

import requests

from tests.sandbox.server import bearer


def test_stats_count_requests_by_endpoint(sandbox, issue_tokens):
    token = issue_tokens()["access_token"]
    sandbox.reset_stats()
    assert sandbox.stats() == {}
    requests.get(sandbox.authorize_url(), timeout=5)
    for _ in range(3):
        requests.get(
            f"{sandbox.url}/crm/rest/v1/oauth/connect/userinfo", headers=bearer(token), timeout=5
        )
    requests.get(f"{sandbox.url}/crm/rest/v2/businessProfile", timeout=5)
    requests.post(f"{sandbox.url}/token", json={}, timeout=5)
    counts = sandbox.stats()
    assert counts["authorize"] == 1
    assert counts["userinfo_v1"] == 3
    assert counts["gateway:missing_token"] == 1
    assert counts["token"] == 1
    assert "token:authorization_code" not in counts
    assert "business_profile_v2" not in counts


def test_stats_count_token_requests_by_grant_type(sandbox, issue_tokens):
    sandbox.reset_stats()
    issue_tokens()
    counts = sandbox.stats()
    assert counts["token"] == 1
    assert counts["token:authorization_code"] == 1


def test_stats_are_exact_under_concurrent_requests(sandbox):
    from concurrent.futures import ThreadPoolExecutor

    sandbox.reset_stats()
    url = f"{sandbox.url}/crm/rest/v1/oauth/connect/userinfo"
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: requests.get(url, timeout=10), range(40)))
    assert sandbox.stats() == {"gateway:missing_token": 40}


def test_set_redirect_uris_re_registers_the_app(sandbox):
    original = list(sandbox.redirect_uris)
    new = "http://127.0.0.1:54321/connections/keap/callback"
    try:
        sandbox.set_redirect_uris([new])
        assert "code" in sandbox.consent(sandbox.authorize_url(redirect_uri=new))
        old = requests.get(
            sandbox.authorize_url(redirect_uri=original[0]), allow_redirects=False, timeout=5
        )
        assert old.status_code == 400
    finally:
        sandbox.set_redirect_uris(original)


def test_set_redirect_uris_rejects_non_urls(sandbox):
    response = requests.put(
        f"{sandbox.url}/sandbox/api/app", json={"redirect_uris": ["javascript:alert(1)"]}, timeout=5
    )
    assert response.status_code == 400
    assert requests.get(f"{sandbox.url}/sandbox/api/app", timeout=5).json()["redirect_uris"] == (
        sandbox.redirect_uris
    )


def test_revoke_unknown_tenant_is_404(sandbox):
    response = requests.post(f"{sandbox.url}/sandbox/api/tenants/zz999/revoke", timeout=5)
    assert response.status_code == 404


def test_dashboard_lists_tenants_users_and_counts(sandbox):
    page = requests.get(f"{sandbox.url}/sandbox/", timeout=5)
    assert page.status_code == 200
    for text in ["Acme Bakery", "Cedar Dental", "Elm Fitness", "sam@sandbox.keap.test", "Grants"]:
        assert text in page.text


def test_settings_reject_unknown_names_and_bad_values(sandbox):
    for body in ({"nope": 1}, {"app_limit_per_minute": -1}, {"throttle_body": "teapot"},
                 {"retry_after": "yes"}, {"access_token_seconds": 0}):  # fmt: skip
        response = requests.put(f"{sandbox.url}/sandbox/api/settings", json=body, timeout=5)
        assert response.status_code == 400, body
    assert sandbox.settings()["app_limit_per_minute"] == 1500


def test_settings_override_and_reset(sandbox):
    assert sandbox.set_limits(app_limit_per_minute=7)["app_limit_per_minute"] == 7
    assert sandbox.reset_settings()["app_limit_per_minute"] == 1500


def test_seed_and_touch_contacts(sandbox, issue_tokens):
    token = issue_tokens(email="sam@sandbox.keap.test", app="ef789")["access_token"]
    sandbox.set_limits(app_limit_per_second=1000)
    try:
        sandbox.seed_contacts("ef789", 40)
        body = requests.get(
            f"{sandbox.url}/crm/rest/v1/contacts", headers=bearer(token), timeout=5
        ).json()
        assert body["count"] == 40
        first = requests.get(
            f"{sandbox.url}/crm/rest/v1/contacts/1", headers=bearer(token), timeout=5
        ).json()
        sandbox.seed_contacts("ef789", 40)
        again = requests.get(
            f"{sandbox.url}/crm/rest/v1/contacts/1", headers=bearer(token), timeout=5
        ).json()
        assert first == again  # deterministic
        touched = sandbox.touch_contacts("ef789", count=5, seed=1)
        assert len(touched["ids"]) == 5
        newest = requests.get(
            f"{sandbox.url}/crm/rest/v2/contacts",
            params={"order_by": "update_time desc", "page_size": 5},
            headers=bearer(token),
            timeout=5,
        ).json()["contacts"]
        assert sorted(int(c["id"]) for c in newest) == touched["ids"]
        assert sandbox.touch_contacts("ef789", ids=[1, 2, 999])["ids"] == [1, 2]
    finally:
        sandbox.reset_settings()


def test_seeded_contacts_have_variety(sandbox):
    sandbox.seed_contacts("ef789", 300)
    token = sandbox.issue_tokens(email="sam@sandbox.keap.test", app="ef789")["access_token"]
    sandbox.set_limits(app_limit_per_second=1000)
    try:
        contacts = requests.get(
            f"{sandbox.url}/crm/rest/v1/contacts", headers=bearer(token), timeout=5
        ).json()["contacts"]
    finally:
        sandbox.reset_settings()
    assert {len(c["email_addresses"]) for c in contacts} == {0, 1, 2, 3}
    assert any(not c["given_name"].isascii() for c in contacts)
    assert any(c.get("company") for c in contacts) and any(c["tag_ids"] for c in contacts)
    assert any(c["phone_numbers"] for c in contacts)
    years = {c["last_updated"][:4] for c in contacts}
    assert len(years) >= 3


def test_dashboard_shows_limits_faults_and_traffic(sandbox):
    sandbox.inject("latency", count=1, ms=1)
    try:
        page = requests.get(f"{sandbox.url}/sandbox/", timeout=5).text
    finally:
        sandbox.clear_faults()
    for text in ["Limits and switches", "app_limit_per_minute", "Faults", "latency", "Traffic"]:
        assert text in page
