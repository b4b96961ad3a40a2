"""Keap's quota headers, sane and absurd: parsed when they make sense, ignored (never raised on)
when they do not."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from webapp.limiter import Limits, QuotaSnapshot, QuotaWindow, parse_quota_headers
from webapp.limiter.base import reconcile_targets

# As Keap sent them in August 2026 (docs/keap/API.md §4.2), with the two-window tenant headers.
KEAP_2026 = {
    "x-keap-product-quota-limit": "150000",
    "x-keap-product-quota-time-unit": "day",
    "x-keap-product-quota-interval": "1",
    "x-keap-product-quota-available": "149999",
    "x-keap-product-quota-used": "1",
    "x-keap-product-quota-expiry-time": "1723680000000",
    "x-keap-product-throttle-limit": "1500",
    "x-keap-product-throttle-time-unit": "minute",
    "x-keap-product-throttle-interval": "1",
    "x-keap-product-throttle-available": "1499",
    "x-keap-product-throttle-used": "1",
    "x-keap-tenant-id": "ab123.infusionsoft.com",
    "x-keap-tenant-throttle-limit": "10000|250000",
    "x-keap-tenant-throttle-time-unit": "minute|day",
    "x-keap-tenant-throttle-interval": "1|1",
    "x-keap-tenant-throttle-available": "9999|249999",
    "x-keap-tenant-throttle-used": "1|1",
}


def test_reads_every_window_keap_sends():
    snapshot = parse_quota_headers(KEAP_2026)
    assert snapshot == QuotaSnapshot(
        app_day=QuotaWindow(150000, 1, 149999, reset_at_ms=1723680000000),
        app_minute=QuotaWindow(1500, 1, 1499),
        tenant_minute=QuotaWindow(10000, 1, 9999),
        tenant_day=QuotaWindow(250000, 1, 249999),
    )


def test_header_names_are_case_insensitive():
    upper = {k.upper(): v for k, v in KEAP_2026.items()}
    assert parse_quota_headers(upper) == parse_quota_headers(KEAP_2026)


def test_reads_the_older_single_window_tenant_headers_as_the_minute():
    snapshot = parse_quota_headers(
        {
            "x-keap-tenant-throttle-limit": "5000",
            "x-keap-tenant-throttle-time-unit": "minute",
            "x-keap-tenant-throttle-interval": "1",
            "x-keap-tenant-throttle-available": "4999",
            "x-keap-tenant-throttle-used": "1",
        }
    )
    assert snapshot == QuotaSnapshot(tenant_minute=QuotaWindow(5000, 1, 4999))


def test_windows_are_matched_by_their_unit_not_their_position():
    snapshot = parse_quota_headers(
        {
            "x-keap-tenant-throttle-time-unit": "day|minute",
            "x-keap-tenant-throttle-used": "7|3",
        }
    )
    assert snapshot.tenant_day == QuotaWindow(used=7)
    assert snapshot.tenant_minute == QuotaWindow(used=3)


def test_no_headers_means_knowing_nothing():
    assert parse_quota_headers({}) == QuotaSnapshot()
    assert parse_quota_headers({"content-type": "application/json"}) == QuotaSnapshot()


def test_absurd_values_are_ignored_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="webapp.limiter")
    snapshot = parse_quota_headers(
        {
            "x-keap-product-quota-limit": "-5",
            "x-keap-product-quota-used": "99999999999999999999999",
            "x-keap-product-quota-available": "lots",
            "x-keap-product-quota-expiry-time": "158663200",  # the docs' example: not epoch ms
            "x-keap-product-throttle-limit": "1500",
            "x-keap-product-throttle-used": "1.5",
            "x-keap-product-throttle-available": " 12 ",
            "x-keap-tenant-throttle-limit": "10000|",
            "x-keap-tenant-throttle-used": "|",
            "x-keap-tenant-throttle-time-unit": "minute|fortnight",
            "x-keap-tenant-throttle-available": "9999|7",
        }
    )
    assert snapshot == QuotaSnapshot(
        app_minute=QuotaWindow(limit=1500, available=12),
        tenant_minute=QuotaWindow(limit=10000, available=9999),
    )
    messages = " ".join(r.getMessage() for r in caplog.records)
    for expected in (
        "not a whole number",
        "implausibly large",
        "not epoch milliseconds",
        "fortnight",
    ):
        assert expected in messages


def test_more_available_than_the_limit_is_not_believed():
    snapshot = parse_quota_headers(
        {"x-keap-product-throttle-limit": "10", "x-keap-product-throttle-available": "11"}
    )
    assert snapshot.app_minute == QuotaWindow(limit=10)


def test_a_minute_unit_of_more_than_one_is_ignored():
    snapshot = parse_quota_headers(
        {
            "x-keap-product-throttle-used": "5",
            "x-keap-product-throttle-time-unit": "minute",
            "x-keap-product-throttle-interval": "5",
        }
    )
    assert snapshot.app_minute is None


@given(st.dictionaries(st.sampled_from(sorted(KEAP_2026)), st.text(max_size=30)))
def test_never_raises_on_any_header_values(headers):
    snapshot = parse_quota_headers(headers)
    for window in (
        snapshot.app_day,
        snapshot.app_minute,
        snapshot.tenant_minute,
        snapshot.tenant_day,
    ):
        if window is not None:
            for value in (window.limit, window.used, window.available):
                assert value is None or 0 <= value <= 1_000_000_000


def test_reconcile_targets_take_the_more_conservative_of_used_and_limit_minus_available():
    snapshot = QuotaSnapshot(
        app_day=QuotaWindow(limit=150000, used=10, available=100),
        app_minute=QuotaWindow(limit=1500, used=1400, available=1499),
        tenant_minute=QuotaWindow(used=0),
    )
    targets = reconcile_targets(snapshot, Limits(app_per_day=140000))
    assert targets.app_day == 140000  # Keap's 149,900 used, capped at our own limit
    assert targets.app_minute == 1400
    assert targets.tenant_minute is None  # nothing to raise
