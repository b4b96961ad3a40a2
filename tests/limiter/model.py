"""The limiter's semantics as plain Python lists, written from the spec in webapp/limiter/base.py.

Deliberately naive (keep every grant, count by scanning) so that it is easy to check by eye; the
backends must agree with it on every decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from webapp.limiter.base import (
    ACTIVE_US,
    DAY_US,
    DEFAULT_GRACE_US,
    DEFAULT_POLL_US,
    FOREVER,
    MINUTE_US,
    SECOND_US,
    Lane,
    Limits,
    day_reconcile_allowed,
    reconcile_targets,
    zero_limit_bucket,
)
from webapp.limiter.headers import QuotaSnapshot


@dataclass
class Record:
    at: int
    tenant: str
    lane: str  # "i", "b", or "r" for a phantom from reconciliation
    windows: frozenset[str]  # which sliding windows it counts in: "s", "m", "tm"
    settled: bool = True  # a grant is in flight (False) until its call is settled


@dataclass
class Model:
    grace_us: int = DEFAULT_GRACE_US
    poll_us: int = DEFAULT_POLL_US
    records: list[Record] = field(default_factory=list)
    days: dict[tuple[str, int], int] = field(default_factory=dict)  # (tenant or "", day) -> used
    pauses: dict[str, int] = field(default_factory=dict)  # tenant or "" -> until
    interactive: dict[str, int] = field(default_factory=dict)  # waiter -> wake
    bulk: dict[str, int] = field(default_factory=dict)  # tenant -> wake
    asked: dict[str, int] = field(default_factory=dict)  # bulk tenant -> last ask
    last_grant: Record | None = None

    def _count(self, now: int, window: str, width: int, tenant: str | None = None) -> list[int]:
        return sorted(
            r.at
            for r in self.records
            if window in r.windows and r.at > now - width and (tenant is None or r.tenant == tenant)
        )

    def _second(self, now: int) -> list[int]:
        """The app's second: settled grants at their time, every unsettled one of the minute at now."""
        return sorted(
            r.at if r.settled else now
            for r in self.records
            if "s" in r.windows and r.at > now - (SECOND_US if r.settled else MINUTE_US)
        )

    def _window_wait(self, times: list[int], width: int, limit: int, now: int) -> int:
        if len(times) < limit:
            return 0
        return times[len(times) - limit] + width - now

    def decide(
        self,
        *,
        now: int,
        tenant: str,
        lane: Lane,
        limits: Limits,
        waiter: str | None = None,
        max_wait_us: int = 10 * DAY_US,
    ) -> tuple[bool, float, str]:
        zero = zero_limit_bucket(limits, lane)
        if zero is not None:
            return False, FOREVER, zero
        app_cap, tenant_cap = limits.day_caps(lane)
        if lane is Lane.BULK:
            self.asked[tenant] = now
            self.asked = {t: at for t, at in self.asked.items() if at > now - ACTIVE_US}
        day = now // DAY_US
        to_midnight = (day + 1) * DAY_US - now
        pause_end = max(
            [u for t, u in self.pauses.items() if t in ("", tenant) and u > now], default=now
        )
        app_pause = max(self.pauses.get("", now) - now, 0)
        waits = [
            ("paused", pause_end - now),
            ("app:second", self._window_wait(self._second(now), SECOND_US, limits.app_per_second, now)),
            ("app:minute", self._window_wait(self._count(now, "m", MINUTE_US), MINUTE_US, limits.app_per_minute, now)),
            ("app:day", to_midnight if self.days.get(("", day), 0) >= app_cap else 0),
            ("tenant:minute", self._window_wait(self._count(now, "tm", MINUTE_US, tenant), MINUTE_US, limits.tenant_per_minute, now)),
            ("tenant:day", to_midnight if self.days.get((tenant, day), 0) >= tenant_cap else 0),
        ]  # fmt: skip
        wait, bucket = 0, ""
        for name, value in waits:
            if value > wait:
                wait, bucket = value, name
        live = now - self.grace_us
        self.interactive = {k: v for k, v in self.interactive.items() if v > live}
        self.bulk = {k: v for k, v in self.bulk.items() if v > live}

        def refuse(w: int, why: str) -> tuple[bool, float, str]:
            # An app-wide pause is a wait for an app-wide slot; a tenant's own pause is not.
            app_wide = why in ("app:second", "app:minute") or (why == "paused" and app_pause >= w)
            if lane is Lane.INTERACTIVE:
                if waiter:
                    if w <= max_wait_us and app_wide:
                        self.interactive[waiter] = now + w
                    else:
                        self.interactive.pop(waiter, None)
            elif w <= max_wait_us and (app_wide or why in ("interactive", "fair")):
                self.bulk[tenant] = max(self.bulk.get(tenant, 0), now + w)
            else:
                self.bulk.pop(tenant, None)
            return False, w / 1e6, why

        if wait > 0:
            return refuse(wait, bucket)
        if lane is Lane.BULK:
            if self.interactive:
                return refuse(
                    max(min(self.interactive.values()) - now, 0) + self.poll_us, "interactive"
                )
            counts: dict[str, int] = {}
            for r in self.records:
                if "s" in r.windows and r.lane == "b" and r.at > now - SECOND_US:
                    counts[r.tenant] = counts.get(r.tenant, 0) + 1
            mine = counts.get(tenant, 0)
            backlogged = {tenant} | set(self.asked) | set(self.bulk)
            share = math.ceil(limits.app_per_second / len(backlogged))
            if mine >= share:
                mine_at = sorted(
                    r.at
                    for r in self.records
                    if "s" in r.windows
                    and r.lane == "b"
                    and r.tenant == tenant
                    and r.at > now - SECOND_US
                )
                return refuse(mine_at[mine - share] + SECOND_US - now, "fair")
            behind = [w for t, w in self.bulk.items() if t != tenant and counts.get(t, 0) < mine]
            if mine > 0 and behind:
                return refuse(max(min(behind) - now, 0) + self.poll_us, "fair")
        self.last_grant = Record(now, tenant, lane.value, frozenset({"s", "m", "tm"}), False)
        self.records.append(self.last_grant)
        for who in ("", tenant):
            self.days[(who, day)] = self.days.get((who, day), 0) + 1
        if lane is Lane.INTERACTIVE:
            if waiter:
                self.interactive.pop(waiter, None)
        elif self.bulk.get(tenant, now + 1) <= now:
            del self.bulk[tenant]
        return True, 0.0, ""

    def settle(self, *, now: int, grant: Record) -> None:
        """The answered call's grant moves to now, if it is still within the minute, and is no
        longer in flight."""
        if grant.at > now - MINUTE_US:
            grant.at = now
        grant.settled = True

    def pause(self, *, now: int, tenant: str | None, seconds: float) -> None:
        key = tenant or ""
        self.pauses[key] = max(self.pauses.get(key, 0), now + int(seconds * 1e6))

    def reconcile(self, *, now: int, tenant: str, snapshot: QuotaSnapshot, limits: Limits) -> None:
        targets = reconcile_targets(snapshot, limits)
        day = now // DAY_US
        if targets.app_day is not None and day_reconcile_allowed(
            now_us=now, reset_us=targets.app_day_reset_us
        ):
            self.days[("", day)] = max(self.days.get(("", day), 0), targets.app_day)
        if targets.app_minute is not None:
            missing = targets.app_minute - len(self._count(now, "m", MINUTE_US))
            self.records += [Record(now, "", "r", frozenset({"m"}))] * max(missing, 0)
        if targets.tenant_minute is not None:
            missing = targets.tenant_minute - len(self._count(now, "tm", MINUTE_US, tenant))
            self.records += [Record(now, tenant, "r", frozenset({"tm"}))] * max(missing, 0)
        if targets.tenant_day is not None and day_reconcile_allowed(now_us=now, reset_us=None):
            self.days[(tenant, day)] = max(self.days.get((tenant, day), 0), targets.tenant_day)
