"""Page numbers come from rollups: today per tenant and connection, breakdowns, series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.usage.conftest import make_call
from webapp.usage import reports
from webapp.usage.models import UsageDay
from webapp.usage.recorder import flush, record

NOW = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # just after midnight UTC: "today" is young


@pytest.fixture
def usage(db):
    record(make_call(tenant="ab123", connection_id=1, at=NOW - timedelta(minutes=1)))
    record(
        make_call(
            tenant="ab123",
            connection_id=1,
            operation="goals.achieve.v1",
            status=500,
            at=NOW - timedelta(minutes=1),
            latency_ms=300,
        )
    )
    record(make_call(tenant="ab123", connection_id=2, at=NOW - timedelta(minutes=5)))
    record(make_call(tenant="cd456", connection_id=3, throttled=True, at=NOW))
    record(make_call(tenant="ab123", connection_id=1, at=NOW - timedelta(hours=1)))  # yesterday
    record(make_call(tenant="ab123", connection_id=1, at=NOW - timedelta(days=40)))  # out of range
    flush()


def test_calls_today_per_tenant_and_connection_count_the_utc_day(usage):
    assert reports.calls_today(tenant="ab123", now=NOW).calls == 3
    assert reports.calls_today(connection_id=1, now=NOW).calls == 2
    assert reports.calls_today(app="client-1", now=NOW).calls == 4
    today = reports.calls_today(connection_id=1, now=NOW)
    assert (today.errors, today.throttled) == (1, 0)
    assert reports.calls_today(tenant="cd456", now=NOW).throttled == 1


def test_breakdowns_by_operation_and_tenant(usage):
    ops = dict(reports.today(connection_id=1, now=NOW).by_operation())
    assert {op: t.calls for op, t in ops.items()} == {"contacts.list.v1": 1, "goals.achieve.v1": 1}
    assert ops["goals.achieve.v1"].p50_ms is not None
    tenants = reports.today(now=NOW).by_tenant()
    assert [(tenant, t.calls) for tenant, t in tenants] == [("ab123", 3), ("cd456", 1)]
    assert (
        UsageDay.objects.for_tenant("ab123", app="client-1")
        .between(NOW.date(), NOW.date() + timedelta(days=1))
        .totals()
        .calls
        == 3
    )


def test_minute_series_covers_the_last_24_hours_zero_filled(usage):
    series = reports.minute_series(tenant="ab123", now=NOW)
    assert len(series) == 24 * 60
    assert series[-1][0] == NOW.replace(second=0)
    by_minute = {minute: t.calls for minute, t in series if t.calls}
    assert by_minute == {
        NOW - timedelta(minutes=1): 2,
        NOW - timedelta(minutes=5): 1,
        NOW - timedelta(hours=1): 1,
    }


def test_day_series_covers_the_last_30_days_zero_filled(usage):
    series = reports.day_series(connection_id=1, now=NOW)
    assert len(series) == 30
    assert series[-1][0] == NOW.date()
    assert [(d, t.calls) for d, t in series if t.calls] == [
        (NOW.date() - timedelta(days=1), 1),
        (NOW.date(), 2),
    ]


def test_reports_read_a_bounded_number_of_queries(usage):
    with CaptureQueriesContext(connection) as queries:
        reports.calls_today(tenant="ab123", now=NOW)
        reports.minute_series(tenant="ab123", now=NOW)
        reports.day_series(tenant="ab123", now=NOW)
    assert len(queries) == 3
    assert not any("usage_rawcall" in q["sql"] for q in queries)
