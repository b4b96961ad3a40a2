"""The day quota is a fixed UTC day on the sandbox clock (on a sandbox of its own: the clock
jumps to midnight, which would expire every other test's tokens)."""

from tests.sandbox.conftest import Api
from tests.sandbox.server import bearer

USERINFO = "/crm/rest/v1/oauth/connect/userinfo"


def test_day_quota_resets_at_utc_midnight(private_sandbox):
    server = private_sandbox
    server.set_settings(app_limit_per_day=3, access_token_seconds=10 * 86400)
    server.reset_quota()
    api = Api(server.url, bearer(server.issue_tokens()["access_token"]))
    responses = [api("GET", USERINFO) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[2].headers["x-keap-product-quota-available"] == "0"
    expiry = int(responses[3].headers["x-keap-product-quota-expiry-time"])
    assert expiry % 86_400_000 == 0
    # Just before midnight: still refused; just after: a fresh day.
    server.advance_clock((expiry - server.now_ms()) / 1000 - 2)
    assert api("GET", USERINFO).status_code == 429
    server.advance_clock(2.5)
    fresh = api("GET", USERINFO)
    assert fresh.status_code == 200
    assert fresh.headers["x-keap-product-quota-used"] == "1"
    assert int(fresh.headers["x-keap-product-quota-expiry-time"]) == expiry + 86_400_000
    server.reset_settings()
