"""Every call Onramp made to Keap: raw records for a few days, and rollups kept forever.

Raw `RawCall` rows are what happened, one per call, pruned after USAGE_RAW_RETENTION_DAYS. The
rollups (`UsageMinute`, `UsageDay`) hold the same numbers summed per app, tenant, connection,
operation and lane, so pages read a handful of rows instead of counting calls. Latency is kept as a
fixed-bucket histogram beside its sum and maximum, which is enough to estimate p50 and p95 later.

Connections are referred to by id, not by foreign key: a connection can be deleted while its calls
wait in the buffer, and its history must survive it. In rollups "no connection" (a code exchange,
say) is 0, not NULL, because NULLs never collide in a unique constraint and the upsert relies on it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Max, Q, Sum
from django.utils import timezone

# Upper edges (ms, inclusive) of the latency histogram's buckets; the last bucket is everything above.
LATENCY_EDGES_MS: tuple[int, ...] = (50, 100, 200, 400, 800, 1600, 3200)
HISTOGRAM_FIELDS: tuple[str, ...] = (*(f"lat_le_{e}" for e in LATENCY_EDGES_MS), "lat_over")
COUNTER_FIELDS: tuple[str, ...] = (
    "calls",
    "errors",
    "throttled",
    "responses_429",
    "retries",
    "latency_sum_ms",
    *HISTOGRAM_FIELDS,
)
NO_CONNECTION = 0
# Rollup rows that hold a throttled call, a 429 or an error: few among many, so the operations
# page's event charts read them through partial indexes instead of every row of the period. The
# indexes carry the event counters too (INCLUDE, PostgreSQL), so those charts are index-only scans.
HAS_EVENTS = Q(throttled__gt=0) | Q(errors__gt=0) | Q(responses_429__gt=0)
EVENT_COUNTERS = ("throttled", "responses_429", "errors")


def latency_bucket(latency_ms: int) -> int:
    """Index into HISTOGRAM_FIELDS of the bucket a latency falls in."""
    return bisect.bisect_left(LATENCY_EDGES_MS, latency_ms)


def is_error(status: int) -> bool:
    """No response (0), a 5xx, or a 4xx other than 429 (a 429 is counted as throttling instead)."""
    return status == 0 or status >= 500 or (400 <= status < 500 and status != 429)


def estimate_percentile(histogram: list[int], q: float, max_ms: int = 0) -> float | None:
    """Estimate the q-quantile (0..1) of latency from bucket counts, interpolating inside a bucket.

    The answer lies in the same bucket as the true value; the open top bucket is taken to end at
    the largest latency seen. None when there were no calls.
    """
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = 0 if i == 0 else LATENCY_EDGES_MS[i - 1]
            upper = LATENCY_EDGES_MS[i] if i < len(LATENCY_EDGES_MS) else max(max_ms, lower)
            return lower + (upper - lower) * max(rank - seen, 0) / count
        seen += count
    return float(max_ms)


@dataclass(frozen=True)
class UsageTotals:
    """Summed rollup counters for some slice of usage, with latency estimates."""

    calls: int = 0
    errors: int = 0
    throttled: int = 0
    responses_429: int = 0
    retries: int = 0
    latency_sum_ms: int = 0
    latency_max_ms: int = 0
    histogram: tuple[int, ...] = (0,) * len(HISTOGRAM_FIELDS)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UsageTotals:
        return cls(
            calls=row.get("calls") or 0,
            errors=row.get("errors") or 0,
            throttled=row.get("throttled") or 0,
            responses_429=row.get("responses_429") or 0,
            retries=row.get("retries") or 0,
            latency_sum_ms=row.get("latency_sum_ms") or 0,
            latency_max_ms=row.get("latency_max_ms") or 0,
            histogram=tuple(row.get(f) or 0 for f in HISTOGRAM_FIELDS),
        )

    @classmethod
    def combined(cls, parts: Iterable[UsageTotals]) -> UsageTotals:
        """The sum of several slices (e.g. every operation's totals: the whole)."""
        parts = list(parts)
        if not parts:
            return cls()
        return cls(
            calls=sum(p.calls for p in parts),
            errors=sum(p.errors for p in parts),
            throttled=sum(p.throttled for p in parts),
            responses_429=sum(p.responses_429 for p in parts),
            retries=sum(p.retries for p in parts),
            latency_sum_ms=sum(p.latency_sum_ms for p in parts),
            latency_max_ms=max(p.latency_max_ms for p in parts),
            histogram=tuple(map(sum, zip(*(p.histogram for p in parts), strict=True))),
        )

    @property
    def mean_ms(self) -> float | None:
        return self.latency_sum_ms / self.calls if self.calls else None

    @property
    def p50_ms(self) -> float | None:
        return estimate_percentile(list(self.histogram), 0.50, self.latency_max_ms)

    @property
    def p95_ms(self) -> float | None:
        return estimate_percentile(list(self.histogram), 0.95, self.latency_max_ms)


def _sums() -> dict[str, Any]:
    sums: dict[str, Any] = {f: Sum(f) for f in COUNTER_FIELDS}
    sums["latency_max_ms"] = Max("latency_max_ms")
    return sums


class RollupQuerySet(models.QuerySet[Any]):
    """Filters and sums shared by the minute and day rollups. Nothing here reads raw records."""

    bucket_field = "minute"

    def for_app(self, app: str) -> RollupQuerySet:
        return self.filter(app=app)

    def for_tenant(self, tenant: str, *, app: str | None = None) -> RollupQuerySet:
        qs = self.filter(tenant=tenant)
        return qs.filter(app=app) if app is not None else qs

    def for_connection(self, connection_id: int) -> RollupQuerySet:
        return self.filter(connection_id=connection_id)

    def between(self, start: datetime | date, end: datetime | date | None = None) -> RollupQuerySet:
        """Rows whose bucket starts at or after `start` and, if given, before `end`."""
        qs = self.filter(**{f"{self.bucket_field}__gte": start})
        return qs.filter(**{f"{self.bucket_field}__lt": end}) if end is not None else qs

    def totals(self) -> UsageTotals:
        """Everything in this queryset summed into one UsageTotals."""
        return UsageTotals.from_row(self.aggregate(**_sums()))

    def grouped(self, field: str) -> list[tuple[Any, UsageTotals]]:
        """(value of `field`, totals) for each value, most calls first."""
        rows = self.order_by().values(field).annotate(**_sums()).order_by("-calls", field)
        return [(row[field], UsageTotals.from_row(row)) for row in rows]

    def by_operation(self) -> list[tuple[str, UsageTotals]]:
        """Per-operation breakdown, most calls first."""
        return self.grouped("operation")

    def by_tenant(self) -> list[tuple[str, UsageTotals]]:
        """Per-tenant breakdown (top tenants first)."""
        return self.grouped("tenant")

    def by_connection(self) -> list[tuple[int, UsageTotals]]:
        """Per-connection breakdown, most calls first (0 is calls made with no connection)."""
        return self.grouped("connection_id")

    def series(self) -> list[tuple[Any, UsageTotals]]:
        """(bucket, totals) in time order, only for buckets that had calls."""
        rows = (
            self.order_by()
            .values(self.bucket_field)
            .annotate(**_sums())
            .order_by(self.bucket_field)
        )
        return [(row[self.bucket_field], UsageTotals.from_row(row)) for row in rows]


class MinuteQuerySet(RollupQuerySet):
    bucket_field = "minute"


class DayQuerySet(RollupQuerySet):
    bucket_field = "day"

    def today(self) -> DayQuerySet:
        """Today's row(s): the UTC day, which is when Keap's daily quota resets."""
        return self.filter(day=timezone.now().astimezone(UTC).date())


class RollupFields(models.Model):
    """The counters of one rollup row; the key is (app, tenant, connection, operation, lane, bucket)."""

    app = models.CharField("developer app", max_length=255)
    tenant = models.CharField("Keap app", max_length=255)
    connection_id = models.BigIntegerField(default=NO_CONNECTION, help_text="0: no connection")
    operation = models.CharField(max_length=64)
    lane = models.CharField(max_length=16)

    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0, help_text="no response, 5xx, or 4xx other than 429")
    throttled = models.BigIntegerField(default=0, help_text="the limiter waited, or Keap said 429")
    responses_429 = models.BigIntegerField("429 responses", default=0)
    retries = models.BigIntegerField(default=0)
    latency_sum_ms = models.BigIntegerField(default=0)
    latency_max_ms = models.BigIntegerField(default=0)
    lat_le_50 = models.BigIntegerField(default=0)
    lat_le_100 = models.BigIntegerField(default=0)
    lat_le_200 = models.BigIntegerField(default=0)
    lat_le_400 = models.BigIntegerField(default=0)
    lat_le_800 = models.BigIntegerField(default=0)
    lat_le_1600 = models.BigIntegerField(default=0)
    lat_le_3200 = models.BigIntegerField(default=0)
    lat_over = models.BigIntegerField("latency over 3200 ms", default=0)

    class Meta:
        abstract = True

    @property
    def histogram(self) -> list[int]:
        return [getattr(self, f) for f in HISTOGRAM_FIELDS]

    @property
    def totals(self) -> UsageTotals:
        return UsageTotals.from_row(
            {f: getattr(self, f) for f in (*COUNTER_FIELDS, "latency_max_ms")}
        )


class UsageMinute(RollupFields):
    """Calls in one UTC minute for one key. Kept forever."""

    minute = models.DateTimeField(help_text="start of the minute (UTC)")

    objects = MinuteQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("app", "tenant", "connection_id", "operation", "lane", "minute"),
                name="usage_minute_key",
            )
        ]
        indexes = [
            models.Index(fields=("connection_id", "minute"), name="usage_minute_conn"),
            models.Index(fields=("tenant", "minute"), name="usage_minute_tenant"),
            models.Index(fields=("app", "minute"), name="usage_minute_app"),
            models.Index(fields=("minute",), name="usage_minute_time"),
            models.Index(
                fields=("app", "minute"), condition=HAS_EVENTS, name="usage_minute_events"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.operation} {self.minute:%Y-%m-%d %H:%M}: {self.calls}"


class UsageDay(RollupFields):
    """Calls on one UTC day for one key: what day charts and "calls today" read. Kept forever."""

    day = models.DateField(help_text="UTC day")

    objects = DayQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("app", "tenant", "connection_id", "operation", "lane", "day"),
                name="usage_day_key",
            )
        ]
        indexes = [
            models.Index(fields=("connection_id", "day"), name="usage_day_conn"),
            models.Index(fields=("tenant", "day"), name="usage_day_tenant"),
            models.Index(fields=("app", "day"), name="usage_day_app"),
            models.Index(
                fields=("app", "day"),
                include=EVENT_COUNTERS,
                condition=HAS_EVENTS,
                name="usage_day_events",
            ),
            # The operator's CSV export: every tenant over a range of days.
            models.Index(fields=("day", "tenant"), name="usage_day_time"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.operation} {self.day}: {self.calls}"


class RawCallQuerySet(models.QuerySet["RawCall"]):
    def older_than(self, cutoff: datetime) -> RawCallQuerySet:
        return self.filter(at__lt=cutoff)


class RawCall(models.Model):
    """One call to Keap, as the client saw it. Pruned after USAGE_RAW_RETENTION_DAYS."""

    app = models.CharField("developer app", max_length=255)
    connection_id = models.BigIntegerField(null=True, blank=True)
    tenant = models.CharField("Keap app", max_length=255)
    operation = models.CharField(max_length=64)
    lane = models.CharField(max_length=16)
    status = models.PositiveSmallIntegerField(help_text="HTTP status; 0 when no response came")
    latency_ms = models.PositiveIntegerField()
    throttled = models.BooleanField(default=False)
    retries = models.PositiveSmallIntegerField(default=0)
    quota = models.JSONField("quota headers", default=dict, blank=True)
    at = models.DateTimeField()

    objects = RawCallQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=("at",), name="usage_call_time"),
            models.Index(fields=("connection_id", "at"), name="usage_call_conn"),
            models.Index(fields=("tenant", "at"), name="usage_call_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.tenant} {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class LatestQuotaQuerySet(models.QuerySet["LatestQuota"]):
    def for_app(self, app: str) -> LatestQuotaQuerySet:
        """Newest first, so `.first()` is the last quota headers Keap sent for this app."""
        return self.filter(app=app).order_by("-seen_at")


class LatestQuota(models.Model):
    """The newest quota headers Keap sent for one tenant of one app (parsed `x-keap-*` numbers)."""

    app = models.CharField("developer app", max_length=255)
    tenant = models.CharField("Keap app", max_length=255)
    headers = models.JSONField(default=dict)
    seen_at = models.DateTimeField()

    objects = LatestQuotaQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("app", "tenant"), name="usage_latest_quota_key")
        ]

    def __str__(self) -> str:
        return f"{self.app}/{self.tenant} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class FlushedBatch(models.Model):
    """A Redis batch already written: lets a crashed flush be recovered without counting twice."""

    id = models.CharField(primary_key=True, max_length=64)
    flushed_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.id


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of a UTC day as aware datetimes."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)
