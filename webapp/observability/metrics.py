"""Prometheus metrics, computed when scraped from the stores every process shares.

Keap calls are counted by the usage rollups, refreshes by connection events, queue depth by the
broker, and connections and sync runs are rows: each scrape reads them, so whichever web process
answers sees what every web and worker process did, without prometheus_client's multiprocess mode
and its per-process files. Labels are bounded: developer app (a handful), status, lane; never a
connection or a tenant.

Counters come from rollups that are written every few seconds by `flush_usage`, so they trail real
time by that much. Deleting a connection deletes its events, which a counter shows as a reset.
"""

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.keap.models import DeveloperApp
from webapp.operations.queues import LANES, queue_depths
from webapp.sync.models import SyncRun
from webapp.usage.models import UsageDay

PREFIX = "onramp"
# Metric name part -> UsageDay field summed for it.
USAGE_SUMS = {"calls": "calls", "r429": "responses_429", "errors": "errors"}
PAST_USAGE_CACHE_SECONDS = 300


class OnrampCollector(Collector):
    """Every Onramp metric; each collect() reads the database and the broker once."""

    def collect(self) -> Iterator[Metric]:
        apps = list(DeveloperApp.objects.order_by("client_id").values_list("client_id", flat=True))
        yield from _keap_calls(apps)
        yield from _token_refreshes(apps)
        yield from _connections(apps)
        yield from _sync_lag()
        yield from _queue_depth()


def _keap_calls(apps: list[str]) -> Iterator[Metric]:
    rows = _usage_by_app()
    calls = CounterMetricFamily(
        f"{PREFIX}_keap_calls", "Calls Onramp made to Keap, by developer app.", labels=["app"]
    )
    throttled = CounterMetricFamily(
        f"{PREFIX}_keap_responses_429",
        "Calls Keap answered with 429 (quota exceeded), by developer app.",
        labels=["app"],
    )
    errors = CounterMetricFamily(
        f"{PREFIX}_keap_errors",
        "Calls that got no response, a 5xx, or a 4xx other than 429, by developer app.",
        labels=["app"],
    )
    for app in sorted(set(apps) | set(rows)):
        row = rows.get(app, {})
        calls.add_metric([app], row.get("calls", 0))
        throttled.add_metric([app], row.get("r429", 0))
        errors.add_metric([app], row.get("errors", 0))
    yield from (calls, throttled, errors)


def _usage_by_app() -> dict[str, dict[str, int]]:
    """Calls, 429s and errors per app, ever: the day rollups are kept forever.

    Days before today hardly change (only a flush that lands just after midnight adds to
    yesterday), so their sum is cached for a few minutes and only today's rows are read on every
    scrape. The cached part can only be behind, so the counters never go down.
    """
    today = timezone.now().date()  # UTC: TIME_ZONE is UTC, as are the rollups' days
    key = f"onramp:metrics:usage-before:{today.isoformat()}"
    try:
        past = cache.get(key)
    except Exception:  # a cache outage costs a slower scrape, not the scrape
        past = None
    if past is None:
        past = _sum_usage(UsageDay.objects.filter(day__lt=today))
        with contextlib.suppress(Exception):
            cache.set(key, past, timeout=PAST_USAGE_CACHE_SECONDS)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(USAGE_SUMS, 0))
    for part in (past, _sum_usage(UsageDay.objects.filter(day__gte=today))):
        for app, sums in part.items():
            for name in USAGE_SUMS:
                totals[app][name] += sums[name]
    return totals


def _sum_usage(days: QuerySet[UsageDay]) -> dict[str, dict[str, int]]:
    sums = {f"sum_{name}": Sum(field) for name, field in USAGE_SUMS.items()}
    rows: Iterable[Any] = days.order_by().values("app").annotate(**sums)
    return {row["app"]: {name: row[f"sum_{name}"] or 0 for name in USAGE_SUMS} for row in rows}


def _token_refreshes(apps: list[str]) -> Iterator[Metric]:
    kinds = ConnectionEvent.Kind
    rows = (
        ConnectionEvent.objects.filter(kind__in=(kinds.REFRESHED, kinds.REFRESH_FAILED))
        .order_by()
        .values("kind", app=F("connection__developer_app__client_id"))
        .annotate(n=Count("pk"))
    )
    counts: dict[tuple[str, str], int] = {(row["kind"], row["app"]): row["n"] for row in rows}
    refreshed = CounterMetricFamily(
        f"{PREFIX}_token_refreshes",
        "Access token refreshes that succeeded, by developer app.",
        labels=["app"],
    )
    failed = CounterMetricFamily(
        f"{PREFIX}_token_refresh_failures",
        "Token refreshes that failed for a while (Keap unreachable), by developer app.",
        labels=["app"],
    )
    for app in sorted(set(apps) | {app for _, app in counts}):
        refreshed.add_metric([app], counts.get((kinds.REFRESHED, app), 0))
        failed.add_metric([app], counts.get((kinds.REFRESH_FAILED, app), 0))
    yield from (refreshed, failed)


def _connections(apps: list[str]) -> Iterator[Metric]:
    rows = (
        KeapConnection.objects.order_by()
        .values("status", app=F("developer_app__client_id"))
        .annotate(n=Count("pk"))
    )
    counts = {(row["app"], row["status"]): row["n"] for row in rows}
    family = GaugeMetricFamily(
        f"{PREFIX}_connections",
        "Keap connections, by developer app and status.",
        labels=["app", "status"],
    )
    # Every status for every app, zeros included, so an alert on e.g. needs_reconnect has a series.
    for app in sorted(set(apps) | {app for app, _ in counts}):
        for status in KeapConnection.Status.values:
            family.add_metric([app, status], counts.get((app, status), 0))
    yield family


def _sync_lag() -> Iterator[Metric]:
    """Seconds since each active connection's last successful sync, as max and mean per app.

    A connection that has never synced successfully counts from when it was connected.
    """
    now = timezone.now()
    rows = (
        KeapConnection.objects.active()
        .order_by()
        .values("pk", "connected_at", app=F("developer_app__client_id"))
        .annotate(
            last_sync=Max(
                "sync_runs__finished_at", filter=Q(sync_runs__status=SyncRun.Status.SUCCEEDED)
            )
        )
    )
    lags: dict[str, list[float]] = defaultdict(list)
    never: dict[str, int] = defaultdict(int)
    for row in rows:
        since = row["last_sync"] or row["connected_at"]
        lags[row["app"]].append(max(0.0, (now - since).total_seconds()))
        never[row["app"]] += row["last_sync"] is None
    worst = GaugeMetricFamily(
        f"{PREFIX}_sync_lag_max_seconds",
        "Longest time since an active connection's last successful sync, by developer app.",
        labels=["app"],
    )
    mean = GaugeMetricFamily(
        f"{PREFIX}_sync_lag_mean_seconds",
        "Mean time since active connections' last successful sync, by developer app.",
        labels=["app"],
    )
    unsynced = GaugeMetricFamily(
        f"{PREFIX}_connections_never_synced",
        "Active connections without a successful sync yet, by developer app.",
        labels=["app"],
    )
    for app in sorted(lags):
        worst.add_metric([app], max(lags[app]))
        mean.add_metric([app], sum(lags[app]) / len(lags[app]))
        unsynced.add_metric([app], never[app])
    yield from (worst, mean, unsynced)


def _queue_depth() -> Iterator[Metric]:
    depths = queue_depths(LANES)
    depth = GaugeMetricFamily(
        f"{PREFIX}_queue_depth",
        "Task messages waiting in each Celery lane (not yet taken by a worker).",
        labels=["queue"],
    )
    readable = GaugeMetricFamily(
        f"{PREFIX}_broker_up", "1 if the broker answered the queue depth query, else 0."
    )
    for lane in LANES:
        lane_depth = depths.get(lane)
        if lane_depth is not None:
            depth.add_metric([lane], lane_depth)
    readable.add_metric([], int(all(depths.get(lane) is not None for lane in LANES)))
    yield from (depth, readable)
