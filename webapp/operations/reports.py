"""The operator's numbers: each developer app's use of its limits, the day's projection, events.

Everything comes from the usage rollups (webapp.usage) except the current second: rollups are per
minute, so the second is counted over the last minute of raw records, a few dozen rows found by
the time index. Numbers lag the calls by the usage buffer's flush interval (a few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import Trunc

from webapp.connections.models import KeapConnection
from webapp.goals.models import GoalCompletion
from webapp.keap.models import DeveloperApp
from webapp.sync.models import SyncRun
from webapp.usage.models import (
    EVENT_COUNTERS,
    HAS_EVENTS,
    LatestQuota,
    RawCall,
    UsageDay,
    UsageMinute,
    UsageTotals,
)
from webapp.usage.reports import share, utc_now

Status = KeapConnection.Status
DAY_SECONDS = 86_400
TOP_TENANTS = 10
RECENT_FAILURES = 10
EVENT_HOURS = 24
EVENT_DAYS = 30
# Before this much of the UTC day has passed, its average rate says little about the rest.
MIN_ELAPSED_FOR_DAY_RATE = timedelta(minutes=10)


@dataclass(frozen=True)
class LimitUse:
    """Calls in one window against the limit for it (None: no such limit)."""

    window: str
    calls: int
    limit: int | None
    note: str = ""

    @property
    def percent(self) -> float | None:
        return share(self.calls, self.limit)

    @property
    def over(self) -> bool:
        return self.limit is not None and self.calls >= self.limit


@dataclass(frozen=True)
class Projection:
    """Where today's total is heading, and which rate says so."""

    calls_so_far: int
    last_hour_calls: int
    by_day_rate: int | None
    by_last_hour: int
    chosen: int
    method: str
    limit: int | None

    @property
    def percent(self) -> float | None:
        return share(self.chosen, self.limit)


@dataclass(frozen=True)
class EventBucket:
    label: str
    throttled: int
    responses_429: int
    errors: int


@dataclass(frozen=True)
class TenantRow:
    tenant: str
    calls: int
    errors: int
    throttled: int
    limit: int | None

    @property
    def percent(self) -> float | None:
        return share(self.calls, self.limit)


@dataclass
class AppOverview:
    app: DeveloperApp
    limits: list[LimitUse]
    latest_quota: LatestQuota | None
    projection: Projection
    top_tenants: list[TenantRow]
    events_by_hour: list[EventBucket]
    events_by_day: list[EventBucket]
    needs_reconnect: list[KeapConnection]
    paused: list[KeapConnection]
    extra: dict[str, Any] = field(default_factory=dict)


def _busiest_second(app: str, now: datetime) -> tuple[int, int]:
    """(calls in the last whole second, calls in the busiest second of the last minute)."""
    rows = (
        RawCall.objects.filter(at__gte=now - timedelta(seconds=60), at__lt=now, app=app)
        .annotate(second=Trunc("at", "second", tzinfo=UTC))
        .values("second")
        .annotate(n=Count("id"))
        .order_by()
    )
    per_second = {row["second"]: row["n"] for row in rows}
    last = now.replace(microsecond=0) - timedelta(seconds=1)
    return per_second.get(last, 0), max(per_second.values(), default=0)


def _recent_minutes(app: str, now: datetime) -> tuple[int, int, int]:
    """(calls this minute so far, in the last whole minute, in the last hour): one grouped read."""
    this_minute = now.replace(second=0, microsecond=0)
    rows = (
        UsageMinute.objects.filter(app=app, minute__gte=this_minute - timedelta(minutes=59))
        .order_by()
        .values("minute")
        .annotate(n=Sum("calls"))
        .values_list("minute", "n")
    )
    found = {minute.astimezone(UTC): n or 0 for minute, n in rows}
    return (
        found.get(this_minute, 0),
        found.get(this_minute - timedelta(minutes=1), 0),
        sum(found.values()),
    )


def project_day(
    *, calls_so_far: int, last_hour_calls: int, now: datetime, limit: int | None
) -> Projection:
    """Extrapolate today's calls to 24:00 UTC at the last hour's rate and at the day's average.

    The last hour's rate is the one shown as the projection: a sync burst or a quiet night moves it
    quickly, which is what an operator watching for the daily limit needs. The day's average is
    shown beside it once enough of the day has passed to mean something.
    """
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (now - midnight).total_seconds()
    remaining = DAY_SECONDS - elapsed
    by_last_hour = calls_so_far + round(last_hour_calls * remaining / 3600)
    by_day_rate = None
    if elapsed >= MIN_ELAPSED_FOR_DAY_RATE.total_seconds():
        by_day_rate = round(calls_so_far * DAY_SECONDS / elapsed)
    return Projection(
        calls_so_far=calls_so_far,
        last_hour_calls=last_hour_calls,
        by_day_rate=by_day_rate,
        by_last_hour=by_last_hour,
        chosen=by_last_hour,
        method="the last hour's rate",
        limit=limit,
    )


_EVENTS = HAS_EVENTS
_EVENT_SUMS = {
    "throttled": Sum("throttled"),
    "responses_429": Sum("responses_429"),
    "errors": Sum("errors"),
}


def events_by_hour(app: str, now: datetime, hours: int = EVENT_HOURS) -> list[EventBucket]:
    """Throttled calls, 429s and errors per hour for the last `hours` hours (this hour last).

    Only minute rows with an event are read (a partial index holds exactly those).
    """
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    start = this_hour - timedelta(hours=hours - 1)
    rows = (
        UsageMinute.objects.filter(_EVENTS, app=app, minute__gte=start)
        .annotate(hour=Trunc("minute", "hour", tzinfo=UTC))
        .order_by()
        .values("hour")
        .annotate(**_EVENT_SUMS)
    )
    sums = {row["hour"].astimezone(UTC): row for row in rows}
    out = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        out.append(_event_bucket(hour.strftime("%H:00"), sums.get(hour, {})))
    return out


def events_by_day(app: str, today: date, days: int = EVENT_DAYS) -> list[EventBucket]:
    """Throttled calls, 429s and errors per UTC day for the last `days` days (today last)."""
    first = today - timedelta(days=days - 1)
    rows = {
        row["day"]: row
        for row in UsageDay.objects.filter(_EVENTS, app=app, day__gte=first)
        .order_by()
        .values("day")
        .annotate(**_EVENT_SUMS)
    }
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        out.append(_event_bucket(day.strftime("%b %d"), rows.get(day, {})))
    return out


def _event_bucket(label: str, row: dict[str, int | None]) -> EventBucket:
    return EventBucket(
        label, row.get("throttled") or 0, row.get("responses_429") or 0, row.get("errors") or 0
    )


def app_overview(app: DeveloperApp, *, now: datetime | None = None) -> AppOverview:
    """Everything the operations page shows for one developer app."""
    now = utc_now(now)
    key = app.client_id
    # Today by tenant, most calls first; the app's totals are their sum (one read for both).
    by_tenant = [
        (row.pop("tenant"), UsageTotals.from_row(row))
        for row in UsageDay.objects.filter(app=key, day=now.date())
        .order_by()
        .values("tenant")
        .annotate(**{f: Sum(f) for f in ("calls", *EVENT_COUNTERS)})
        .order_by("-calls", "tenant")
    ]
    today = UsageTotals.combined(t for _, t in by_tenant)
    last_second, peak_second = _busiest_second(key, now)
    minute_so_far, last_minute, last_hour = _recent_minutes(key, now)
    limits = [
        # Raw records land a few seconds after the call (the usage buffer), so the second just
        # gone is usually still empty: the busiest second of the last minute is what to watch.
        LimitUse(
            "second",
            peak_second,
            app.limit_per_second,
            f"busiest second in the last minute; the last whole second: {last_second}",
        ),
        LimitUse(
            "minute",
            max(minute_so_far, last_minute),
            app.limit_per_minute,
            f"this minute so far {minute_so_far}, last whole minute {last_minute}",
        ),
        LimitUse("day", today.calls, app.limit_per_day, "since 00:00 UTC"),
    ]
    tenants = [
        TenantRow(tenant, t.calls, t.errors, t.throttled, app.tenant_limit_per_day)
        for tenant, t in by_tenant[:TOP_TENANTS]
    ]
    # Both lists in one read: few connections are ever in either state.
    stuck = list(
        KeapConnection.objects.filter(
            developer_app=app, status__in=(Status.NEEDS_RECONNECT, Status.PAUSED)
        )
        .select_related("owner")
        .order_by("app_name")
    )
    return AppOverview(
        app=app,
        limits=limits,
        latest_quota=LatestQuota.objects.for_app(key).first(),
        projection=project_day(
            calls_so_far=today.calls, last_hour_calls=last_hour, now=now, limit=app.limit_per_day
        ),
        top_tenants=tenants,
        events_by_hour=events_by_hour(key, now),
        events_by_day=events_by_day(key, now.date()),
        needs_reconnect=[c for c in stuck if c.status == Status.NEEDS_RECONNECT],
        paused=[c for c in stuck if c.status == Status.PAUSED],
        extra={"today": today},
    )


def recent_failed_syncs(limit: int = RECENT_FAILURES) -> list[SyncRun]:
    return list(
        SyncRun.objects.filter(status=SyncRun.Status.FAILED)
        .select_related("connection")
        .order_by("-finished_at", "-pk")[:limit]
    )


def recent_failed_goals(limit: int = RECENT_FAILURES) -> list[GoalCompletion]:
    return list(
        GoalCompletion.objects.filter(status=GoalCompletion.Status.FAILED)
        .select_related("connection")
        .order_by("-finished_at", "-pk")[:limit]
    )


def usage_by_tenant_and_day(*, start: date, end: date, app: str | None = None) -> Any:
    """Rows (day, app, tenant, counters) for the CSV export, from the day rollups, inclusive range."""
    qs = UsageDay.objects.filter(day__gte=start, day__lte=end)
    if app:
        qs = qs.filter(app=app)
    return (
        qs.order_by()
        .values("day", "app", "tenant")
        .annotate(
            calls=Sum("calls"),
            errors=Sum("errors"),
            throttled=Sum("throttled"),
            responses_429=Sum("responses_429"),
            retries=Sum("retries"),
        )
        .order_by("day", "app", "tenant")
    )
