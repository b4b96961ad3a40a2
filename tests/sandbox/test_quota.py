"""Keap's quotas and throttles: headers on every response, exact windows, 429 bodies."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.sandbox.conftest import Api
from tests.sandbox.server import bearer

USERINFO = "/crm/rest/v1/oauth/connect/userinfo"
QUOTA_EXCEEDED = {
    "code": "429",
    "message": "Quota Exceeded",
    "status": "Request Throttled",
    "details": None,
}


@pytest.fixture
def metered(sandbox, ab123_token):
    """Default limits, empty windows; restores everything afterwards."""
    sandbox.reset_settings()
    sandbox.reset_quota()
    yield Api(sandbox.url, bearer(ab123_token))
    sandbox.reset_settings()
    sandbox.reset_quota()


def _ints(response, name: str) -> list[int]:
    return [int(part) for part in response.headers[name].split("|")]


def test_every_metered_response_carries_the_quota_headers(metered):
    for method, path in [("GET", USERINFO), ("GET", "/crm/rest/v1/nope"),
                         ("GET", "/crm/rest/v2/contacts?page_size=5000"), ("POST", USERINFO)]:  # fmt: skip
        response = metered(method, path)
        assert response.status_code in (200, 400, 404, 405)
        headers = response.headers
        assert headers["x-keap-tenant-id"] == "ab123.infusionsoft.com"
        assert headers["x-keap-product-quota-limit"] == "150000"
        assert headers["x-keap-product-quota-time-unit"] == "day"
        assert headers["x-keap-product-quota-interval"] == "1"
        assert headers["x-keap-product-throttle-limit"] == "1500"
        assert headers["x-keap-product-throttle-time-unit"] == "minute"
        assert headers["x-keap-product-throttle-interval"] == "1"
        assert headers["x-keap-tenant-throttle-limit"] == "10000|250000"
        assert headers["x-keap-tenant-throttle-time-unit"] == "minute|day"
        assert headers["x-keap-tenant-throttle-interval"] == "1|1"
        assert "Retry-After" not in headers


def test_quota_expiry_is_the_next_utc_midnight_in_ms(metered, sandbox):
    response = metered("GET", USERINFO)
    now = datetime.fromtimestamp(sandbox.now_ms() / 1000, tz=UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    assert int(response.headers["x-keap-product-quota-expiry-time"]) == int(
        midnight.timestamp() * 1000
    )


def test_n_calls_lower_available_by_exactly_n(metered):
    first = metered("GET", USERINFO)
    for _ in range(7):
        last = metered("GET", USERINFO)
    for name in ("x-keap-product-quota-available", "x-keap-product-throttle-available"):
        assert int(first.headers[name]) - int(last.headers[name]) == 7, name
    assert [a - b for a, b in zip(_ints(first, "x-keap-tenant-throttle-available"),
                                  _ints(last, "x-keap-tenant-throttle-available"), strict=True)] == [7, 7]  # fmt: skip
    assert int(last.headers["x-keap-product-quota-used"]) == 8
    assert _ints(last, "x-keap-tenant-throttle-used") == [8, 8]


def test_over_the_minute_limit_is_429_until_the_window_slides(metered, sandbox):
    sandbox.set_limits(app_limit_per_minute=5)
    for expected in (4, 3, 2, 1, 0):
        response = metered("GET", USERINFO)
        assert response.status_code == 200
        assert int(response.headers["x-keap-product-throttle-available"]) == expected
    refused = metered("GET", USERINFO)
    assert refused.status_code == 429
    assert refused.json() == QUOTA_EXCEEDED
    assert refused.headers["x-keap-product-throttle-available"] == "0"
    assert refused.headers["x-keap-product-throttle-used"] == "5"
    assert refused.headers["x-keap-tenant-id"] == "ab123.infusionsoft.com"
    assert "Retry-After" not in refused.headers
    # A refused call consumes nothing: the day count did not move.
    assert refused.headers["x-keap-product-quota-used"] == "5"
    sandbox.advance_clock(60.01)
    again = metered("GET", USERINFO)
    assert again.status_code == 200
    assert again.headers["x-keap-product-throttle-used"] == "1"


def test_spike_window_slides_with_sub_second_precision(metered, sandbox):
    sandbox.set_limits(app_limit_per_second=2)
    assert metered("GET", USERINFO).status_code == 200
    sandbox.advance_clock(0.5)
    assert metered("GET", USERINFO).status_code == 200
    sandbox.advance_clock(0.3)
    assert metered("GET", USERINFO).status_code == 429  # both still inside (t - 1 s, t]
    sandbox.advance_clock(0.25)
    assert metered("GET", USERINFO).status_code == 200  # the first one slid out
    assert metered("GET", USERINFO).status_code == 429


def test_fault_bodies_when_switched(metered, sandbox):
    sandbox.set_settings(throttle_body="fault", app_limit_per_second=1, app_limit_per_minute=2)
    assert metered("GET", USERINFO).status_code == 200
    spike = metered("GET", USERINFO)
    assert spike.status_code == 429
    assert spike.json()["fault"]["detail"]["errorcode"] == "policies.ratelimit.SpikeArrestViolation"
    sandbox.advance_clock(1.01)
    assert metered("GET", USERINFO).status_code == 200
    sandbox.advance_clock(1.01)
    quota = metered("GET", USERINFO)
    assert quota.status_code == 429
    assert quota.json()["fault"]["detail"]["errorcode"] == "policies.ratelimit.QuotaViolation"
    assert quota.json()["fault"]["faultstring"].startswith("Rate limit quota violation")


def test_retry_after_when_switched_is_the_seconds_until_the_window_frees(metered, sandbox):
    sandbox.set_settings(retry_after=True, app_limit_per_minute=1)
    assert metered("GET", USERINFO).status_code == 200
    sandbox.advance_clock(20)
    refused = metered("GET", USERINFO)
    assert refused.status_code == 429
    assert 39 <= int(refused.headers["Retry-After"]) <= 40


def test_tenant_limits_count_every_credential(metered, sandbox):
    sandbox.set_limits(tenant_limit_per_minute=3)
    key = Api(sandbox.url, {"X-Keap-API-Key": sandbox.create_api_key("ab123", "sak")})
    assert metered("GET", USERINFO).status_code == 200
    assert key("GET", USERINFO).status_code == 200
    third = metered("GET", USERINFO)
    assert _ints(third, "x-keap-tenant-throttle-available") == [0, 250000 - 3]
    refused = key("GET", USERINFO)
    assert refused.status_code == 429
    # Another tenant is not affected.
    other = Api(sandbox.url, {"X-Keap-API-Key": sandbox.create_api_key("cd456", "pat")})
    assert other("GET", USERINFO).status_code == 200


def test_quota_is_exact_under_concurrency(metered, sandbox):
    sandbox.set_limits(app_limit_per_minute=40, app_limit_per_second=1000)
    sandbox.reset_stats()
    url = f"{sandbox.url}{USERINFO}"
    headers = metered.session.headers
    local = threading.local()

    def call(_):
        local.session = getattr(local, "session", None) or requests.Session()
        return local.session.get(url, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(call, range(100)))
    assert statuses.count(200) == 40
    assert statuses.count(429) == 60
    traffic = sandbox.counts()
    assert traffic["tenants"]["ab123"]["userinfo_v1"] == {"calls": 100, "throttled": 60}
    assert traffic["throttled"] == 60


def test_api_keys_have_their_own_limits(metered, sandbox):
    key = Api(sandbox.url, {"X-Keap-API-Key": sandbox.create_api_key("ab123", "pat")})
    response = key("GET", USERINFO)
    assert response.status_code == 200
    assert response.headers["x-keap-product-throttle-limit"] == "240"
    assert response.headers["x-keap-product-quota-limit"] == "30000"
    assert response.headers["x-keap-product-quota-used"] == "1"
    sandbox.set_limits(key_limit_per_second=2)
    assert key("GET", USERINFO).status_code == 200
    assert key("GET", USERINFO).status_code == 429
    assert metered("GET", USERINFO).status_code == 200  # the app's budget is separate


def test_xmlrpc_is_metered_too(metered, sandbox):
    before = metered("GET", USERINFO)
    metered("POST", "/crm/xmlrpc/v1", data=b"<bad", headers={"Content-Type": "text/xml"})
    after = metered("GET", USERINFO)
    assert (
        int(after.headers["x-keap-product-quota-used"])
        - int(before.headers["x-keap-product-quota-used"])
        == 2
    )


def test_legacy_bucket_for_xmlrpc(metered, sandbox):
    sandbox.set_settings(
        xmlrpc_throttle="legacy", legacy_bucket_size=2, legacy_refill_ms=400, legacy_max_throttled=1
    )
    body = b"<?xml version='1.0'?><methodCall><methodName>FunnelService.achieveGoal</methodName><params><param><value><string></string></value></param><param><value><string>ab123</string></value></param><param><value><string>none</string></value></param><param><value><int>1</int></value></param></params></methodCall>"

    def call():
        started = time.monotonic()
        response = metered(
            "POST", "/crm/xmlrpc/v1", data=body, headers={"Content-Type": "text/xml"}
        )
        return time.monotonic() - started, response.text

    fast = [call(), call()]
    assert all(elapsed < 0.3 and "fault" not in text for elapsed, text in fast)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: call(), range(2)))
    faults = [text for _, text in results if "Maximum number of threads throttled" in text]
    waited = [elapsed for elapsed, text in results if "fault" not in text]
    assert len(faults) == 1 and len(waited) == 1
    assert waited[0] >= 0.35
