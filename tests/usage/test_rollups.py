"""Rollups add up across flushes, count errors and throttling as defined, and estimate latency."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from tests.usage.conftest import NOON, make_call
from webapp.usage.models import (
    LATENCY_EDGES_MS,
    UsageDay,
    UsageMinute,
    estimate_percentile,
    latency_bucket,
)
from webapp.usage.recorder import flush, record


@pytest.mark.django_db
def test_rollups_increment_across_flushes_instead_of_overwriting(backend):
    for latency in (10, 20, 30):
        record(make_call(latency_ms=latency))
    flush()
    record(make_call(latency_ms=5000, retries=2))
    record(make_call(latency_ms=15))
    flush()
    row = UsageMinute.objects.get()
    assert (row.calls, row.retries, row.latency_sum_ms, row.latency_max_ms) == (5, 2, 5075, 5000)
    assert row.histogram == [4, 0, 0, 0, 0, 0, 0, 1]
    assert UsageDay.objects.get().calls == 5


@pytest.mark.django_db
def test_errors_and_throttling_are_counted_as_defined():
    for status, throttled in [
        (200, False),
        (200, True),
        (429, False),
        (0, False),
        (503, False),
        (404, False),
        (401, False),
        (301, False),
    ]:
        record(make_call(status=status, throttled=throttled))
    flush()
    totals = UsageMinute.objects.totals()
    assert totals.calls == 8
    assert totals.errors == 4  # no response, 503, 404, 401; not the 429, not the 301
    assert totals.throttled == 2  # waited for the limiter, or answered 429
    assert totals.responses_429 == 1


def test_latency_buckets_have_inclusive_upper_edges():
    assert [latency_bucket(ms) for ms in (0, 50, 51, 100, 3200, 3201)] == [0, 0, 1, 1, 6, 7]


def _bucket_bounds(ms: float) -> tuple[float, float]:
    i = latency_bucket(int(ms))
    lower = 0 if i == 0 else LATENCY_EDGES_MS[i - 1]
    upper = LATENCY_EDGES_MS[i] if i < len(LATENCY_EDGES_MS) else float("inf")
    return lower, upper


@pytest.mark.django_db
def test_latency_percentiles_from_rollups_are_within_one_bucket_of_the_truth():
    rng = random.Random(5)
    latencies = [int(rng.lognormvariate(5, 0.9)) for _ in range(1000)]
    for i, ms in enumerate(latencies):
        record(make_call(latency_ms=ms, operation=f"op{i % 3}", at=NOON + timedelta(minutes=i % 7)))
    flush()
    totals = UsageMinute.objects.totals()  # summed over 21 rollup rows
    ordered = sorted(latencies)
    for q, estimate in ((0.50, totals.p50_ms), (0.95, totals.p95_ms)):
        true = ordered[int(q * len(ordered)) - 1]
        lower, upper = _bucket_bounds(true)
        assert estimate is not None and lower <= estimate <= upper, (q, true, estimate)
    assert totals.mean_ms == pytest.approx(sum(latencies) / len(latencies))


def test_percentile_of_nothing_is_none_and_the_open_bucket_ends_at_the_maximum():
    assert estimate_percentile([0] * 8, 0.5) is None
    assert estimate_percentile([0, 0, 0, 0, 0, 0, 0, 4], 1.0, max_ms=9000) == 9000
    assert estimate_percentile([2, 0, 0, 0, 0, 0, 0, 0], 0.5) == 25
