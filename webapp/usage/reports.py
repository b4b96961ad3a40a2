"""Usage numbers for pages, read only from rollups (never by counting raw records).

Every helper takes the same optional scope: `app` (developer app), `tenant`, `connection_id`.
Series come back zero-filled, one entry per minute or day, oldest first, ready to chart.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from webapp.usage.models import RollupQuerySet, UsageDay, UsageMinute, UsageTotals

EMPTY = UsageTotals()


def _scoped(
    qs: RollupQuerySet, *, app: str | None, tenant: str | None, connection_id: int | None
) -> RollupQuerySet:
    if app is not None:
        qs = qs.for_app(app)
    if tenant is not None:
        qs = qs.for_tenant(tenant)
    if connection_id is not None:
        qs = qs.for_connection(connection_id)
    return qs


def utc_now(now: datetime | None = None) -> datetime:
    """`now` (tests pass one) or the current time, in UTC."""
    return (now or timezone.now()).astimezone(UTC)


def share(part: int, whole: int | None) -> float | None:
    """`part` as a percentage of a limit, to one decimal; None when there is no limit."""
    return round(100 * part / whole, 1) if whole else None


def today(
    *,
    app: str | None = None,
    tenant: str | None = None,
    connection_id: int | None = None,
    now: datetime | None = None,
) -> RollupQuerySet:
    """Today's day rollups (UTC day: when Keap's daily quota resets), narrowed to the scope."""
    qs = UsageDay.objects.filter(day=utc_now(now).date())
    return _scoped(qs, app=app, tenant=tenant, connection_id=connection_id)


def calls_today(
    *,
    app: str | None = None,
    tenant: str | None = None,
    connection_id: int | None = None,
    now: datetime | None = None,
) -> UsageTotals:
    """Calls, errors, throttling and latency estimates for today (UTC), for the scope."""
    return today(app=app, tenant=tenant, connection_id=connection_id, now=now).totals()


def minute_series(
    *,
    app: str | None = None,
    tenant: str | None = None,
    connection_id: int | None = None,
    minutes: int = 24 * 60,
    now: datetime | None = None,
) -> list[tuple[datetime, UsageTotals]]:
    """One entry per minute for the last `minutes` minutes (the current one last)."""
    end = utc_now(now).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    qs = _scoped(
        UsageMinute.objects.between(start, end),
        app=app,
        tenant=tenant,
        connection_id=connection_id,
    )
    found = {bucket.astimezone(UTC): totals for bucket, totals in qs.series()}
    return [
        (start + timedelta(minutes=i), found.get(start + timedelta(minutes=i), EMPTY))
        for i in range(minutes)
    ]


def day_series(
    *,
    app: str | None = None,
    tenant: str | None = None,
    connection_id: int | None = None,
    days: int = 30,
    now: datetime | None = None,
) -> list[tuple[date, UsageTotals]]:
    """One entry per UTC day for the last `days` days (today last)."""
    last = utc_now(now).date()
    first = last - timedelta(days=days - 1)
    qs = _scoped(
        UsageDay.objects.between(first, last + timedelta(days=1)),
        app=app,
        tenant=tenant,
        connection_id=connection_id,
    )
    found = dict(qs.series())
    return [
        (first + timedelta(days=i), found.get(first + timedelta(days=i), EMPTY))
        for i in range(days)
    ]
