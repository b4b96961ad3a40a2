"""record() buffers without touching the database; flush() writes raw rows and rollups."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.usage.conftest import NOON, make_call
from webapp.limiter import Lane, parse_quota_headers
from webapp.usage import recorder
from webapp.usage.models import LatestQuota, RawCall, UsageDay, UsageMinute
from webapp.usage.recorder import flush, record
from webapp.usage.records import CallRecord, quota_from_snapshot


@pytest.mark.django_db
def test_flush_writes_raw_rows_and_rollups(backend):
    record(make_call(status=200, latency_ms=40))
    record(make_call(status=200, latency_ms=120, retries=1))
    record(make_call(status=503, latency_ms=900, at=NOON + timedelta(minutes=1)))
    record(
        make_call(
            connection_id=None, tenant="zz999", operation="token.exchange", lane="interactive"
        )
    )
    assert RawCall.objects.count() == 0  # nothing written before a flush

    assert flush() == 4

    assert RawCall.objects.count() == 4
    assert RawCall.objects.filter(connection_id__isnull=True, tenant="zz999").count() == 1
    first = UsageMinute.objects.get(tenant="ab123", minute=NOON.replace(second=0))
    assert (first.calls, first.errors, first.retries, first.latency_sum_ms) == (2, 0, 1, 160)
    assert first.latency_max_ms == 120
    assert first.histogram == [1, 0, 1, 0, 0, 0, 0, 0]
    second = UsageMinute.objects.get(
        tenant="ab123", minute=NOON.replace(second=0) + timedelta(minutes=1)
    )
    assert (second.calls, second.errors) == (1, 1)
    exchange = UsageMinute.objects.get(tenant="zz999")
    assert (exchange.connection_id, exchange.lane, exchange.operation) == (
        0,
        "interactive",
        "token.exchange",
    )
    day = UsageDay.objects.get(tenant="ab123", connection_id=7)
    assert (day.day, day.calls, day.errors, day.latency_max_ms) == (date(2026, 3, 10), 3, 1, 900)
    assert flush() == 0  # drained


@pytest.mark.django_db
def test_record_does_no_database_query(backend, django_assert_num_queries):
    with django_assert_num_queries(0):
        for i in range(50):
            record(make_call(latency_ms=i, quota={"app_day": {"used": i}}))
    assert flush() == 50


@pytest.mark.django_db
def test_record_does_no_database_query_with_flusher_thread_running(settings):
    settings.USAGE_FLUSH_INTERVAL_SECONDS = 60  # started, but will not flush during the test
    with CaptureQueriesContext(connection) as queries:
        record(make_call())
        record(make_call())
    assert len(queries) == 0
    assert recorder.LOCAL.thread is not None and recorder.LOCAL.thread.is_alive()
    assert flush() == 2


def test_call_record_round_trips_through_json():
    call = make_call(
        lane=Lane.INTERACTIVE,
        throttled=True,
        retries=2,
        quota={"tenant_minute": {"limit": 10000, "used": 3}},
        at=datetime(2026, 3, 10, 12, 0, 30, 123456, tzinfo=UTC),
    )
    assert call.lane == "interactive"
    assert CallRecord.from_json(call.to_json()) == call
    assert CallRecord.from_json(make_call(connection_id=None).to_json()).connection_id is None


def test_call_record_clamps_absurd_numbers_and_needs_an_aware_time():
    call = make_call(status=-5, latency_ms=-1, retries=10**9)
    assert (call.status, call.latency_ms, call.retries) == (0, 0, 32767)
    with pytest.raises(ValueError):
        make_call(at=datetime(2026, 3, 10, 12, 0))


def test_quota_from_snapshot_keeps_only_what_keap_sent():
    snapshot = parse_quota_headers(
        {
            "x-keap-product-quota-limit": "150000",
            "x-keap-product-quota-used": "12",
            "x-keap-tenant-throttle-limit": "10000|250000",
            "x-keap-tenant-throttle-used": "3|40",
        }
    )
    assert quota_from_snapshot(snapshot) == {
        "app_day": {"limit": 150000, "used": 12},
        "tenant_minute": {"limit": 10000, "used": 3},
        "tenant_day": {"limit": 250000, "used": 40},
    }
    assert quota_from_snapshot(None) == {}


@pytest.mark.django_db
def test_latest_quota_keeps_the_newest_headers_even_if_older_ones_arrive_later(backend):
    record(make_call(quota={"app_day": {"used": 5}}, at=NOON))
    record(make_call(quota={}, at=NOON + timedelta(seconds=5)))  # no headers: not a snapshot
    flush()
    latest = LatestQuota.objects.get(app="client-1", tenant="ab123")
    assert (latest.headers, latest.seen_at) == ({"app_day": {"used": 5}}, NOON)

    record(make_call(quota={"app_day": {"used": 9}}, at=NOON + timedelta(seconds=10)))
    record(make_call(quota={"app_day": {"used": 1}}, at=NOON - timedelta(minutes=1)))
    flush()
    latest.refresh_from_db()
    assert latest.headers == {"app_day": {"used": 9}}
    assert LatestQuota.objects.for_app("client-1").first() == latest


@pytest.mark.django_db
def test_a_failed_local_flush_keeps_the_records(monkeypatch):
    for _ in range(3):
        record(make_call())

    def broken(records, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr("webapp.usage.store.store_records", broken)
    with pytest.raises(RuntimeError):
        flush()
    monkeypatch.undo()
    assert flush() == 3
    assert RawCall.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_background_thread_flushes_in_process_records(settings):
    settings.USAGE_FLUSH_INTERVAL_SECONDS = 0.1
    for _ in range(5):
        record(make_call())
    deadline = time.monotonic() + 10
    while RawCall.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert RawCall.objects.count() == 5
    assert UsageMinute.objects.get().calls == 5


@pytest.mark.django_db(transaction=True)
def test_shutdown_writes_what_the_process_still_holds(settings):
    settings.USAGE_FLUSH_INTERVAL_SECONDS = 60
    record(make_call())
    record(make_call())
    recorder.on_process_shutdown()
    assert recorder.LOCAL.thread is None
    assert UsageMinute.objects.get().calls == 2


@pytest.mark.django_db
def test_a_forked_child_starts_with_an_empty_buffer_and_no_thread(settings):
    settings.USAGE_FLUSH_INTERVAL_SECONDS = 60
    record(make_call())
    pid = os.fork()
    if pid == 0:  # the child: must not flush the parent's record a second time
        ok = not recorder.LOCAL.items and recorder.LOCAL.thread is None
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(recorder.LOCAL.items) == 1  # the parent still owns it
    assert flush() == 1


@pytest.mark.django_db
def test_record_falls_back_to_the_process_when_redis_is_down(settings):
    settings.USAGE_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.USAGE_REDIS_TIMEOUT_SECONDS = 0.2
    record(make_call())  # does not raise
    assert len(recorder.LOCAL.items) == 1
    with pytest.raises(Exception, match=r"(?i)connect"):
        flush()  # the local record is written first; the Redis part then fails loudly
    assert RawCall.objects.count() == 1


@pytest.mark.django_db
def test_a_celery_child_shutting_down_writes_its_buffer(settings):
    from celery.signals import worker_process_shutdown

    settings.USAGE_FLUSH_INTERVAL_SECONDS = 60
    record(make_call())
    worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert RawCall.objects.count() == 1
    assert recorder.LOCAL.thread is None
