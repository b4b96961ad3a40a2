"""Prometheus metrics, computed when scraped from the stores every process shares.

Keap calls are counted by the usage rollups, refreshes by connection events, queue depth by the
broker, and connections, sync runs and hook deliveries are rows: each scrape reads them, so whichever web process
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
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.hooks.models import HookDelivery, HookEndpoint
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
        yield from _hooks(apps)
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
    """How far behind Keap each active connection's copy may be, as max and mean per app.

    A connection Keap pushes changes for (verified hooks) is behind by its oldest delivery not yet
    applied, and not at all without one: it is not polled, so its last sync says nothing. Any
    other connection is behind by the time since its last successful sync; one that has never
    synced successfully counts from when it was connected.
    """
    now = timezone.now()
    pending = HookDelivery.objects.filter(
        connection_id=OuterRef("pk"), applied_at__isnull=True
    ).order_by("received_at")
    rows = (
        KeapConnection.objects.active()
        .order_by()
        .values("pk", "connected_at", app=F("developer_app__client_id"))
        .annotate(
            last_sync=Max(
                "sync_runs__finished_at", filter=Q(sync_runs__status=SyncRun.Status.SUCCEEDED)
            ),
            hooked=Q(hook_endpoint__status=HookEndpoint.Status.VERIFIED),
            oldest_pending=Subquery(pending.values("received_at")[:1]),
        )
    )
    lags: dict[str, list[float]] = defaultdict(list)
    never: dict[str, int] = defaultdict(int)
    for row in rows:
        if row["last_sync"] is None:
            since = row["connected_at"]
        elif row["hooked"]:
            since = row["oldest_pending"] or now
        else:
            since = row["last_sync"]
        lags[row["app"]].append(max(0.0, (now - since).total_seconds()))
        never[row["app"]] += row["last_sync"] is None
    worst = GaugeMetricFamily(
        f"{PREFIX}_sync_lag_max_seconds",
        "Longest time an active connection's copy may be behind Keap, by developer app.",
        labels=["app"],
    )
    mean = GaugeMetricFamily(
        f"{PREFIX}_sync_lag_mean_seconds",
        "Mean time active connections' copies may be behind Keap, by developer app.",
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


def _hooks(apps: list[str]) -> Iterator[Metric]:
    """Hook endpoints by status, and deliveries stored but not yet applied, per app."""
    rows = (
        HookEndpoint.objects.filter(connection__status=KeapConnection.Status.ACTIVE)
        .order_by()
        .values("status", app=F("connection__developer_app__client_id"))
        .annotate(n=Count("pk"))
    )
    counts = {(row["app"], row["status"]): row["n"] for row in rows}
    endpoints = GaugeMetricFamily(
        f"{PREFIX}_hook_endpoints",
        "Active connections' REST hook endpoints, by developer app and status.",
        labels=["app", "status"],
    )
    apps = sorted(set(apps) | {app for app, _ in counts})
    for app in apps:
        for status in HookEndpoint.Status.values:
            endpoints.add_metric([app, status], counts.get((app, status), 0))
    per_connection = dict(
        HookDelivery.objects.filter(applied_at__isnull=True)
        .order_by()
        .values_list("connection_id")
        .annotate(n=Count("pk"))
    )
    app_of = dict(
        KeapConnection.objects.filter(pk__in=per_connection).values_list(
            "pk", "developer_app__client_id"
        )
    )
    waiting: dict[str, int] = defaultdict(int)
    for connection_id, n in per_connection.items():
        if connection_id in app_of:  # not one deleted meanwhile
            waiting[app_of[connection_id]] += n
    pending = GaugeMetricFamily(
        f"{PREFIX}_hook_deliveries_pending",
        "Deliveries from Keap stored and not yet applied to the copy, by developer app.",
        labels=["app"],
    )
    for app in sorted(set(apps) | set(waiting)):
        pending.add_metric([app], waiting.get(app, 0))
    yield from (endpoints, pending)


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
