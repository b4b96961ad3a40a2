"""The embedded limiter: the same decisions as the Redis script, in one database transaction.

For Onramp's zero-setup mode (SQLite, one machine) and for PostgreSQL without Redis. Every decision
first writes the app's `AppLock` row, inside `transaction.atomic()`:
- on PostgreSQL that row lock makes concurrent decisions for one app wait for each other, and
  READ COMMITTED lets each see everything the previous holder committed;
- on SQLite the write takes the database's RESERVED lock at once (settings also ask for IMMEDIATE
  transactions), so the whole decision runs alone across processes.
The clock is read after the lock is held, from the database (PostgreSQL `clock_timestamp()`, SQLite
`julianday('now')`, millisecond resolution), so grant times follow lock order and every process on
the machine shares one clock, whatever its own `time.time()` says.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, connections, transaction
from django.db.models import Count, F, QuerySet

from webapp.limiter.base import (
    ACTIVE_US,
    DAY_US,
    MINUTE_US,
    SECOND_US,
    Decision,
    Lane,
    Limiter,
    LimiterUnavailable,
    Limits,
    ReconcileTargets,
    day_reconcile_allowed,
    to_wait_seconds,
)
from webapp.limiter.models import AppLock, DayCount, Grant, Pause, Waiter

G, APP_MINUTE, TENANT_MINUTE = Grant.Scope.GRANT, Grant.Scope.APP_MINUTE, Grant.Scope.TENANT_MINUTE
INTERACTIVE_KIND, BULK_KIND, ASKED_KIND = "i", "b", "a"
_T = TypeVar("_T")


class DatabaseLimiter(Limiter):
    def __init__(
        self,
        *,
        using: str = "default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.using = using

    # --- plumbing ---------------------------------------------------------------------------------
    def _now(self) -> int:
        if self._clock is not None:
            return int(self._clock())
        connection = connections[self.using]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint")
            elif connection.vendor == "sqlite":
                cursor.execute(
                    "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
                    " * 1000"
                )
            else:  # pragma: no cover - one machine, so the process clock is shared
                return time.time_ns() // 1000
            return int(cursor.fetchone()[0])

    def _lock(self, app: str) -> None:
        # An UPDATE, not a SELECT: it takes the write lock first thing (see the module docstring).
        locks = AppLock.objects.using(self.using).filter(app=app)
        if not locks.update(app=app):
            AppLock.objects.using(self.using).bulk_create([AppLock(app=app)], ignore_conflicts=True)
            locks.update(app=app)

    def _atomic(self, app: str, body: Callable[[int], _T]) -> _T:
        try:
            with transaction.atomic(using=self.using):
                self._lock(app)
                return body(self._now())
        except DatabaseError as exc:
            raise LimiterUnavailable(f"limiter: database failed: {exc}") from exc

    def _grants(self, app: str) -> QuerySet[Grant]:
        return Grant.objects.using(self.using).filter(app=app)

    def _waiters(self, app: str, kind: str) -> QuerySet[Waiter]:
        return Waiter.objects.using(self.using).filter(app=app, kind=kind)

    def _used(self, app: str, tenant: str, day: int) -> int:
        row = DayCount.objects.using(self.using).filter(app=app, tenant=tenant, day=day)
        return row.values_list("used", flat=True).first() or 0

    # --- decisions --------------------------------------------------------------------------------
    def _decide(
        self,
        *,
        app: str,
        tenant: str,
        lane: Lane,
        limits: Limits,
        waiter: str | None,
        max_wait_us: int,
    ) -> Decision:
        app_day, tenant_day = limits.day_caps(lane)

        def body(now: int) -> Decision:
            day = now // DAY_US
            to_midnight = (day + 1) * DAY_US - now
            grants = self._grants(app)
            grants.filter(at_us__lte=now - MINUTE_US).delete()
            if lane is Lane.BULK:
                # Every bulk ask marks its tenant as backlogged (one row per tenant).
                asked = self._waiters(app, ASKED_KIND)
                if not asked.filter(name=tenant).update(wake_us=now):
                    asked.create(app=app, kind=ASKED_KIND, name=tenant, wake_us=now)
                asked.filter(wake_us__lte=now - ACTIVE_US).delete()

            def window(qs: QuerySet[Grant], width: int, limit: int) -> int:
                live = qs.filter(at_us__gt=now - width)
                count = live.count()
                if count < limit:
                    return 0
                oldest = live.order_by("at_us").values_list("at_us", flat=True)[count - limit]
                return oldest + width - now

            # The app's second: settled grants at their time, and every grant still in flight
            # (all within the minute, trimmed above) as if granted now, so after the settled ones.
            in_flight = grants.filter(scope=G, in_flight=True).count()
            second_wait = (
                SECOND_US
                if in_flight >= limits.app_per_second
                else window(
                    grants.filter(scope=G, in_flight=False),
                    SECOND_US,
                    limits.app_per_second - in_flight,
                )
            )

            pauses = Pause.objects.using(self.using).filter(
                app=app, tenant__in=["", tenant], until_us__gt=now
            )
            pause_ends = dict(pauses.values_list("tenant", "until_us"))
            app_pause = max(pause_ends.get("", now) - now, 0)
            pause_end = max(pause_ends.values(), default=now)
            waits = [
                ("paused", pause_end - now),
                ("app:second", second_wait),
                (
                    "app:minute",
                    window(
                        grants.filter(scope__in=[G, APP_MINUTE]), MINUTE_US, limits.app_per_minute
                    ),
                ),
                ("app:day", to_midnight if self._used(app, "", day) >= app_day else 0),
                (
                    "tenant:minute",
                    window(
                        grants.filter(tenant=tenant, scope__in=[G, TENANT_MINUTE]),
                        MINUTE_US,
                        limits.tenant_per_minute,
                    ),
                ),
                ("tenant:day", to_midnight if self._used(app, tenant, day) >= tenant_day else 0),
            ]
            wait, bucket = 0, ""
            for name, value in waits:
                if value > wait:
                    wait, bucket = value, name

            Waiter.objects.using(self.using).filter(
                app=app, kind__in=[INTERACTIVE_KIND, BULK_KIND], wake_us__lte=now - self.grace_us
            ).delete()

            def refuse(w: int, why: str) -> Decision:
                app_wide = why in {"app:second", "app:minute"} or (
                    why == "paused" and app_pause >= w
                )
                self._register(app, tenant, lane, waiter, now, w, why, max_wait_us, app_wide)
                return Decision(granted=False, wait_seconds=to_wait_seconds(w), bucket=why)

            if wait > 0:
                return refuse(wait, bucket)

            if lane is Lane.BULK:
                first_interactive = (
                    self._waiters(app, INTERACTIVE_KIND)
                    .order_by("wake_us")
                    .values_list("wake_us", flat=True)
                    .first()
                )
                if first_interactive is not None:
                    return refuse(max(first_interactive - now, 0) + self.poll_us, "interactive")
                counts = dict(
                    grants.filter(scope=G, lane=Lane.BULK.value, at_us__gt=now - SECOND_US)
                    .values_list("tenant")
                    .annotate(n=Count("id"))
                    .values_list("tenant", "n")
                )
                mine = counts.get(tenant, 0)
                backlogged = {tenant} | set(
                    Waiter.objects.using(self.using)
                    .filter(app=app, kind__in=[ASKED_KIND, BULK_KIND])
                    .values_list("name", flat=True)
                )
                share = math.ceil(limits.app_per_second / len(backlogged))
                if mine >= share:
                    mine_at = list(
                        grants.filter(
                            scope=G, lane=Lane.BULK.value, tenant=tenant, at_us__gt=now - SECOND_US
                        )
                        .order_by("at_us")
                        .values_list("at_us", flat=True)
                    )
                    return refuse(mine_at[mine - share] + SECOND_US - now, "fair")
                if mine > 0:
                    wakes = [
                        wake
                        for name, wake in self._waiters(app, BULK_KIND)
                        .exclude(name=tenant)
                        .values_list("name", "wake_us")
                        if counts.get(name, 0) < mine
                    ]
                    if wakes:
                        return refuse(max(min(wakes) - now, 0) + self.poll_us, "fair")

            token = self._grant(app, tenant, lane, waiter, now, day)
            return Decision(
                granted=True, wait_seconds=0.0, bucket="", granted_at=now / 1e6, token=token
            )

        return self._atomic(app, body)

    def _register(
        self,
        app: str,
        tenant: str,
        lane: Lane,
        waiter: str | None,
        now: int,
        wait: int,
        why: str,
        max_wait_us: int,
        app_wide: bool,
    ) -> None:
        """Mirror of `refuse` in the Lua script: who waits for an app-wide slot, and until when."""
        if lane is Lane.INTERACTIVE:
            if not waiter:
                return
            mine = self._waiters(app, INTERACTIVE_KIND).filter(name=waiter)
            if wait <= max_wait_us and app_wide:
                if not mine.update(wake_us=now + wait):
                    mine.create(app=app, kind=INTERACTIVE_KIND, name=waiter, wake_us=now + wait)
            else:
                mine.delete()
            return
        mine = self._waiters(app, BULK_KIND).filter(name=tenant)
        if wait <= max_wait_us and (app_wide or why in {"interactive", "fair"}):
            # Keep the latest wake among the tenant's callers (ZADD GT in Redis).
            if not mine.exists():
                mine.create(app=app, kind=BULK_KIND, name=tenant, wake_us=now + wait)
            else:
                mine.filter(wake_us__lt=now + wait).update(wake_us=now + wait)
        else:
            mine.delete()

    def _grant(
        self, app: str, tenant: str, lane: Lane, waiter: str | None, now: int, day: int
    ) -> str:
        grant = Grant.objects.using(self.using).create(
            app=app, tenant=tenant, lane=lane.value, scope=G, at_us=now, in_flight=True
        )
        days = DayCount.objects.using(self.using)
        for who in ("", tenant):
            if not days.filter(app=app, tenant=who, day=day).update(used=F("used") + 1):
                days.create(app=app, tenant=who, day=day, used=1)
        days.filter(app=app, day__lt=day - 1).delete()
        if lane is Lane.INTERACTIVE:
            if waiter:
                self._waiters(app, INTERACTIVE_KIND).filter(name=waiter).delete()
        else:
            self._waiters(app, BULK_KIND).filter(name=tenant, wake_us__lte=now).delete()
        return str(grant.pk)

    def in_flight(self, *, app: str) -> int:
        try:
            since = self._now() - MINUTE_US
            return self._grants(app).filter(scope=G, in_flight=True, at_us__gt=since).count()
        except DatabaseError as exc:
            raise LimiterUnavailable(f"limiter: database failed: {exc}") from exc

    # --- pauses and reconciliation ----------------------------------------------------------------
    def _pause(self, *, app: str, tenant: str, pause_us: int) -> None:
        def body(now: int) -> None:
            pauses = Pause.objects.using(self.using).filter(app=app, tenant=tenant)
            if not pauses.exists():
                pauses.create(app=app, tenant=tenant, until_us=now + pause_us)
            else:
                # Never shorten a pause another worker set.
                pauses.filter(until_us__lt=now + pause_us).update(until_us=now + pause_us)

        self._atomic(app, body)

    def _settle(
        self, *, app: str, tenant: str, token: str | None, targets: ReconcileTargets | None
    ) -> None:
        def body(now: int) -> None:
            if token is not None and token.isdigit():
                # Settle: the answered call's grant moves to now and is no longer in flight, if
                # still within the minute (older rows are deleted by the next decision unread).
                self._grants(app).filter(pk=int(token), scope=G, at_us__gt=now - MINUTE_US).update(
                    at_us=now, in_flight=False
                )
            if targets is not None:
                self._raise(app, tenant, targets, now)

        self._atomic(app, body)

    def _raise(self, app: str, tenant: str, targets: ReconcileTargets, now: int) -> None:
        day = now // DAY_US
        days = DayCount.objects.using(self.using)

        def raise_day(who: str, target: int) -> None:
            row = days.filter(app=app, tenant=who, day=day)
            if not row.exists():
                row.create(app=app, tenant=who, day=day, used=target)
            else:
                row.filter(used__lt=target).update(used=target)

        def raise_window(qs: QuerySet[Grant], scope: str, who: str, target: int) -> None:
            missing = target - qs.filter(at_us__gt=now - MINUTE_US).count()
            if missing > 0:
                # Keap counted calls we did not: phantom grants at `now` are conservative.
                Grant.objects.using(self.using).bulk_create(
                    [
                        Grant(app=app, tenant=who, lane="r", scope=scope, at_us=now)
                        for _ in range(missing)
                    ]
                )

        grants = self._grants(app)
        if targets.app_day is not None and day_reconcile_allowed(
            now_us=now, reset_us=targets.app_day_reset_us
        ):
            raise_day("", targets.app_day)
        if targets.app_minute is not None:
            raise_window(
                grants.filter(scope__in=[G, APP_MINUTE]), APP_MINUTE, "", targets.app_minute
            )
        if targets.tenant_minute is not None:
            raise_window(
                grants.filter(tenant=tenant, scope__in=[G, TENANT_MINUTE]),
                TENANT_MINUTE,
                tenant,
                targets.tenant_minute,
            )
        if targets.tenant_day is not None and day_reconcile_allowed(now_us=now, reset_us=None):
            raise_day(tenant, targets.tenant_day)
