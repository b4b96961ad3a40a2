"""The limiter's vocabulary and the rules both backends share.

Exact semantics (the Keap sandbox enforces the same; the backends and the test model agree on them):

- Time is integer microseconds since the epoch, read from the limiter's store (Redis TIME, or the
  database's clock), never from the worker process.
- A sliding window of length W with limit N admits a call at time t when fewer than N earlier grants
  have a timestamp g with g > t - W. So any half-open interval [a, a + W) holds at most N grants.
  When it is full, the wait is g_k + W - t where g_k is the oldest grant that must leave for one slot
  to open. Windows: app second (1 s), app minute (60 s), tenant minute (60 s).
- Settle: once a granted call's response has arrived (or the call has failed), its grant's
  timestamp becomes the settle time, in every sliding window, if the grant is still within the
  minute. The server counts a call when it arrives, which lies between grant and response, so
  settled windows upper-bound the server's: 25 grants in 1.000 s of our clock can arrive within
  less than 1 s at Keap, but a settled grant never leaves our window before Keap's.
- In flight: until it is settled, a grant counts in the app's second as if granted now, however
  long ago it was granted, because its call may reach Keap at any moment (a worker starved of CPU
  between grant and send, a slow connect). So the second's count is the settled grants with
  g > t - 1 s plus every unsettled grant of the minute, and the wait when it is full is taken over
  that list with each unsettled grant at t: an unsettled grant needed to leave means a wait of
  1 s, the soonest it could. A grant never settled (its worker was killed) is presumed abandoned
  once it leaves the minute: the client settles every call, answered or not, long before that
  (its HTTP timeout). The minute windows count grants at their grant (or settle) time as before.
  Why this is enough: Keap counts each call at some time c with grant <= c <= settle. Were 26
  calls counted within one second [a, a + 1), look at the last of them to be granted, at
  g < a + 1: every other one was granted by then and was either in flight (counted as now) or
  settled at s >= c >= a > g - 1 (still in the second), so the limiter saw 25 and refused it.
- A day is the fixed UTC day (floor(t / 86 400 s)); its count resets at 00:00 UTC and a full day waits
  until then. The bulk lane may use the day only up to `bulk_day_cap` (the interactive reserve is kept
  back); the interactive lane may use all of it.
- A limit of 0 stops calls: the decision waits forever (math.inf), so `acquire` gives up at once.
- Pauses (from a 429) refuse everything in their bucket until they end. An app-wide pause is a
  wait for an app-wide slot like app:second: the refused caller registers as a waiter (below), so
  fairness and the interactive lane survive the pause; a tenant's own pause is not.
- The refused decision's wait is the largest wait among all binding limits; its bucket names that
  limit (ties go to the first of: paused, app:second, app:minute, app:day, tenant:minute, tenant:day).
- Lanes and fairness only decide between calls that every limit above would admit: a bulk call is
  refused ("interactive") while an interactive caller is registered as waiting for an app-wide slot,
  and refused ("fair") while a tenant waiting for an app-wide slot holds fewer bulk grants in the
  app's current sliding second than this tenant does. Waiters are registered by the refused call
  itself, with the time they will come back (`wake`), and stay registered until `wake + grace`.
  Also, a bulk tenant that already holds ceil(app_per_second / n) bulk grants of the current
  sliding second is refused ("fair") until its oldest one leaves, where n counts the tenants that
  asked in the bulk lane within the last ACTIVE_US or are registered as waiting. So five
  backlogged tenants get five slots each of 25, however many workers each one has.
"""

from __future__ import annotations

import enum
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from webapp.limiter.headers import QuotaSnapshot, QuotaWindow

logger = logging.getLogger("webapp.limiter")

US = 1_000_000
SECOND_US = US
MINUTE_US = 60 * US
DAY_US = 86_400 * US
# Day reconciliation is skipped this long after 00:00 UTC when Keap does not say which day its
# numbers belong to: a response counted on Keap's side just before midnight must not fill our new day.
DAY_GUARD_US = 300 * US
# Keap's quota expiry-time must name the same midnight as our clock, within this tolerance.
DAY_RESET_TOLERANCE_US = 300 * US
# Registered waiters and these bounds: kept in one place so the model in the tests can share them.
DEFAULT_GRACE_US = 200_000
DEFAULT_POLL_US = 10_000
# A bulk tenant that asked within this long is backlogged and counts toward the fair share.
ACTIVE_US = 1_000_000
# A wait that never ends (a limit of zero).
FOREVER = math.inf

BUCKET_ORDER = ("paused", "app:second", "app:minute", "app:day", "tenant:minute", "tenant:day")
# Refusals for these buckets are contention for the app's shared slots, so the refused caller
# registers as a waiter; a tenant's own limits or a pause concern nobody else.
APP_WIDE_BUCKETS = frozenset({"app:second", "app:minute", "interactive", "fair"})


class Lane(enum.Enum):
    INTERACTIVE = "i"  # a person is waiting for this call
    BULK = "b"  # syncs and imports


@dataclass(frozen=True)
class Limits:
    """The quota of one Keap developer app (and of each tenant it reaches); any may be 0."""

    app_per_second: int = 25
    app_per_minute: int = 1_500
    app_per_day: int = 150_000
    tenant_per_minute: int = 10_000
    tenant_per_day: int = 250_000
    # The share of each daily budget the bulk lane leaves for interactive calls (0.0 to 1.0).
    interactive_reserve: float = 0.1

    def day_caps(self, lane: Lane) -> tuple[int, int]:
        """The app and tenant day budgets that `lane` may use."""
        if lane is Lane.INTERACTIVE:
            return self.app_per_day, self.tenant_per_day
        return bulk_day_cap(self.app_per_day, self.interactive_reserve), bulk_day_cap(
            self.tenant_per_day, self.interactive_reserve
        )


def bulk_day_cap(limit: int, reserve: float) -> int:
    """How much of a daily `limit` the bulk lane may use: floor(limit * (1 - reserve))."""
    if not math.isfinite(reserve):
        reserve = 1.0
    reserve = min(max(reserve, 0.0), 1.0)
    # The epsilon keeps 150000 * 0.9 at 135000, not 134999 after float rounding.
    return max(0, math.floor(limit * (1.0 - reserve) + 1e-9))


def zero_limit_bucket(limits: Limits, lane: Lane) -> str | None:
    """The first limit that is zero for `lane`, if any: such a call can never be granted."""
    app_day, tenant_day = limits.day_caps(lane)
    for bucket, value in (
        ("app:second", limits.app_per_second),
        ("app:minute", limits.app_per_minute),
        ("app:day", app_day),
        ("tenant:minute", limits.tenant_per_minute),
        ("tenant:day", tenant_day),
    ):
        if value <= 0:
            return bucket
    return None


_zero_buckets: dict[tuple[Limits, Lane], str | None] = {}


def _zero_bucket(limits: Limits, lane: Lane) -> str | None:
    """zero_limit_bucket, remembered per (limits, lane): it is asked before every decision."""
    try:
        return _zero_buckets[(limits, lane)]
    except KeyError:
        if len(_zero_buckets) > 1024:
            _zero_buckets.clear()
        bucket = _zero_buckets[(limits, lane)] = zero_limit_bucket(limits, lane)
        return bucket


@dataclass(frozen=True)
class Decision:
    granted: bool
    # Exact seconds until this caller could be granted (0 when granted; math.inf for a zero limit).
    wait_seconds: float
    # The limit that bound the decision: app:second, app:minute, app:day, tenant:minute,
    # tenant:day, paused, interactive, fair; "" when granted.
    bucket: str
    # The limiter's clock (epoch seconds) when the call was granted; None when refused.
    granted_at: float | None = None
    # Names the grant for `settle` (the Redis member, or the database row id); None when refused.
    token: str | None = None


class LimiterError(Exception):
    """Base of the limiter's errors: on any of them, send nothing to Keap."""


class LimiterUnavailable(LimiterError):
    """The limiter's store (Redis or the database) cannot be reached; no call may be sent."""


class LimiterTimeout(LimiterError):
    """The call cannot be granted within the caller's timeout; carries the last refusal."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.wait_seconds = decision.wait_seconds
        self.bucket = decision.bucket
        super().__init__(
            f"limiter: {decision.bucket} needs {decision.wait_seconds:.3f}s, past the timeout"
        )


@dataclass(frozen=True)
class ReconcileTargets:
    """The used counts Keap reported, as floors for our own counts (None: nothing to raise)."""

    app_day: int | None
    app_day_reset_us: int | None
    app_minute: int | None
    tenant_minute: int | None
    tenant_day: int | None

    def is_empty(self) -> bool:
        return (
            self.app_day is None
            and self.app_minute is None
            and self.tenant_minute is None
            and self.tenant_day is None
        )


def _floor_from(window: QuotaWindow | None, our_limit: int) -> int | None:
    """What Keap says has been used: the larger of `used` and `limit - available`, capped at ours."""
    if window is None or our_limit <= 0:
        return None
    candidates = []
    if window.used is not None:
        candidates.append(window.used)
    if window.limit is not None and window.available is not None:
        candidates.append(window.limit - window.available)
    if not candidates or max(candidates) <= 0:
        return None
    # Counting past our own limit changes no decision, and keeps the sorted sets bounded.
    return min(max(candidates), our_limit)


def reconcile_targets(snapshot: QuotaSnapshot, limits: Limits) -> ReconcileTargets:
    reset = snapshot.app_day.reset_at_ms if snapshot.app_day else None
    return ReconcileTargets(
        app_day=_floor_from(snapshot.app_day, limits.app_per_day),
        app_day_reset_us=reset * 1000 if reset is not None else None,
        app_minute=_floor_from(snapshot.app_minute, limits.app_per_minute),
        tenant_minute=_floor_from(snapshot.tenant_minute, limits.tenant_per_minute),
        tenant_day=_floor_from(snapshot.tenant_day, limits.tenant_per_day),
    )


def day_reconcile_allowed(*, now_us: int, reset_us: int | None) -> bool:
    """Whether Keap's day numbers belong to our current UTC day (see DAY_GUARD_US)."""
    day_start = now_us // DAY_US * DAY_US
    if reset_us is not None:
        return abs(reset_us - (day_start + DAY_US)) <= DAY_RESET_TOLERANCE_US
    return now_us - day_start >= DAY_GUARD_US


def to_wait_seconds(wait_us: float) -> float:
    return wait_us if wait_us == FOREVER else wait_us / US


class Limiter:
    """What both backends offer; `acquire` (the waiting loop) is shared."""

    def __init__(
        self,
        *,
        clock: Callable[[], int] | None = None,
        grace_us: int = DEFAULT_GRACE_US,
        poll_us: int = DEFAULT_POLL_US,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # Tests only: a function returning epoch microseconds. Production reads the store's clock.
        self._clock = clock
        self.grace_us = grace_us
        self.poll_us = poll_us
        # Injectable so tests can run the waiting loop on a simulated clock.
        self._sleep = sleep
        self._monotonic = monotonic

    def try_acquire(self, *, app: str, tenant: str, lane: Lane, limits: Limits) -> Decision:
        """Decide one call against every limit at once; consume nothing when refused."""
        return self.decide(app=app, tenant=tenant, lane=lane, limits=limits)

    def decide(
        self,
        *,
        app: str,
        tenant: str,
        lane: Lane,
        limits: Limits,
        waiter: str | None = None,
        max_wait: float = FOREVER,
    ) -> Decision:
        """try_acquire, and for a refused caller that will wait at most `max_wait` seconds, register
        it as a waiter (`waiter` names an interactive caller) so bulk calls leave it its slot."""
        bucket = _zero_bucket(limits, lane)
        if bucket is not None:
            return Decision(granted=False, wait_seconds=FOREVER, bucket=bucket)
        max_wait_us = int(min(max_wait, 10 * 86_400) * US) if max_wait > 0 else 0
        return self._decide(
            app=app, tenant=tenant, lane=lane, limits=limits, waiter=waiter, max_wait_us=max_wait_us
        )

    def acquire(
        self, *, app: str, tenant: str, lane: Lane, limits: Limits, timeout: float
    ) -> Decision:
        """Wait (sleeping exactly as long as the limiter says) until granted, or raise LimiterTimeout
        at once when the next possible grant lies beyond `timeout` seconds."""
        deadline = self._monotonic() + timeout
        waiter = uuid.uuid4().hex if lane is Lane.INTERACTIVE else None
        while True:
            remaining = deadline - self._monotonic()
            decision = self.decide(
                app=app,
                tenant=tenant,
                lane=lane,
                limits=limits,
                waiter=waiter,
                max_wait=remaining,
            )
            if decision.granted:
                return decision
            if decision.wait_seconds > remaining:
                raise LimiterTimeout(decision)
            # Bulk callers that were all told the same instant spread out by up to a millisecond;
            # the interactive caller comes back exactly on time to take the slot kept for it.
            jitter = random.uniform(0, 0.001) if lane is Lane.BULK else 0.0  # noqa: S311
            self._sleep(min(decision.wait_seconds + jitter, max(remaining, 0.0)))

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
        raise NotImplementedError

    def pause(self, *, app: str, tenant: str | None, seconds: float, bucket: str) -> None:
        """Refuse every call of the app (tenant None) or of one tenant for `seconds` (a 429)."""
        if not math.isfinite(seconds) or seconds <= 0:
            return
        seconds = min(seconds, 2 * 86_400.0)
        logger.warning(
            "limiter: pausing %s %s for %.3fs after a 429 on %s",
            app,
            tenant or "(app)",
            seconds,
            bucket,
        )
        self._pause(app=app, tenant=tenant or "", pause_us=int(seconds * US))

    def _pause(self, *, app: str, tenant: str, pause_us: int) -> None:
        raise NotImplementedError

    def reconcile(self, *, app: str, tenant: str, snapshot: QuotaSnapshot, limits: Limits) -> None:
        """Raise our used counts to what Keap reports (never lower them)."""
        self.settle(app=app, tenant=tenant, decision=None, snapshot=snapshot, limits=limits)

    def settle(
        self,
        *,
        app: str,
        tenant: str,
        decision: Decision | None,
        snapshot: QuotaSnapshot | None = None,
        limits: Limits | None = None,
    ) -> None:
        """After a call's response (or its failure): move its grant to now (see the settle rule
        above) and reconcile with Keap's headers, in one step."""
        targets = (
            reconcile_targets(snapshot, limits)
            if snapshot is not None and limits is not None
            else None
        )
        if targets is not None and targets.is_empty():
            targets = None
        token = decision.token if decision is not None and decision.granted else None
        if token is None and targets is None:
            return
        self._settle(app=app, tenant=tenant, token=token, targets=targets)

    def _settle(
        self, *, app: str, tenant: str, token: str | None, targets: ReconcileTargets | None
    ) -> None:
        raise NotImplementedError

    def in_flight(self, *, app: str) -> int:
        """How many of the app's grants of the last minute are not settled yet: calls on their
        way, or grants whose caller never settled them (each holds a slot of the second)."""
        raise NotImplementedError
