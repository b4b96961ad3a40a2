"""What every limiter backend promises, tried on Redis and on the database alike."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace

import pytest
import redis

from tests.limiter.conftest import FakeClock
from webapp.limiter import (
    Lane,
    Limiter,
    LimiterTimeout,
    LimiterUnavailable,
    Limits,
    QuotaSnapshot,
    QuotaWindow,
    get_limiter,
)
from webapp.limiter.base import DAY_US

BULK, INTERACTIVE = Lane.BULK, Lane.INTERACTIVE
# Roomy limits, so each test binds only the one it is about.
ROOMY = Limits(
    app_per_second=1000,
    app_per_minute=100_000,
    app_per_day=1_000_000,
    tenant_per_minute=100_000,
    tenant_per_day=1_000_000,
    interactive_reserve=0.0,
)


def take(
    limiter: Limiter,
    limits: Limits,
    *,
    tenant: str = "t1",
    lane: Lane = BULK,
    app: str = "app",
    answered: bool = True,
):
    """One call: the decision, and for a grant (unless `answered` is False, a call still on its
    way) Keap's answer at the same instant, settled."""
    decision = limiter.try_acquire(app=app, tenant=tenant, lane=lane, limits=limits)
    if decision.granted and answered:
        limiter.settle(app=app, tenant=tenant, decision=decision)
    return decision


def grant_n(
    limiter: Limiter, limits: Limits, n: int, clock: FakeClock, step: float = 0.0, **kw
) -> None:
    for _ in range(n):
        decision = take(limiter, limits, **kw)
        assert decision.granted, decision
        clock.advance(step)


def test_grants_up_to_the_per_second_limit_then_refuses_with_the_exact_wait(limiter, clock):
    limits = replace(ROOMY, app_per_second=5)
    grant_n(limiter, limits, 5, clock, step=0.1)  # at .0 .1 .2 .3 .4; now .5
    refused = take(limiter, limits)
    assert not refused.granted
    assert refused.bucket == "app:second"
    assert refused.wait_seconds == pytest.approx(0.5, abs=1e-9)  # the grant at .0 leaves at 1.0
    clock.advance(0.499999)
    assert not take(limiter, limits).granted
    clock.advance(0.000001)
    assert take(limiter, limits).granted
    assert not take(limiter, limits).granted  # exactly one slot opened


def test_a_call_in_flight_holds_its_slot_in_the_second_until_it_is_settled(limiter, clock):
    """Keap counts a call when it arrives, which may be long after its grant (a worker starved
    between grant and send): until the answer is in, the grant counts as now."""
    limits = replace(ROOMY, app_per_second=2)
    slow = take(limiter, limits, answered=False)
    clock.advance(0.1)
    other = take(limiter, limits, answered=False)
    clock.advance(5)
    refused = take(limiter, limits)
    # Both could still reach Keap now, so the soonest either leaves the second is 1 s from now.
    assert (refused.bucket, refused.wait_seconds) == ("app:second", pytest.approx(1.0))
    limiter.settle(app="app", tenant="t1", decision=slow)  # answered at 5.1: leaves at 6.1
    clock.advance(0.4)
    refused = take(limiter, limits)
    assert (refused.bucket, refused.wait_seconds) == ("app:second", pytest.approx(0.6))
    clock.advance(0.6)
    assert take(limiter, limits).granted
    assert not take(limiter, limits).granted  # `other` is still on its way
    assert limiter.in_flight(app="app") == 1
    limiter.settle(app="app", tenant="t1", decision=other)
    assert limiter.in_flight(app="app") == 0
    clock.advance(1)
    assert take(limiter, limits).granted


def test_a_grant_never_settled_is_presumed_abandoned_when_it_leaves_the_minute(limiter, clock):
    limits = replace(ROOMY, app_per_second=1)
    assert take(limiter, limits, answered=False).granted  # its worker was killed
    clock.advance(59.999999)
    refused = take(limiter, limits)
    assert (refused.bucket, refused.wait_seconds) == ("app:second", pytest.approx(1.0))
    assert limiter.in_flight(app="app") == 1
    clock.advance(0.000001)
    assert limiter.in_flight(app="app") == 0
    assert take(limiter, limits).granted


def test_refused_calls_consume_nothing(limiter, clock):
    limits = replace(ROOMY, app_per_second=2, app_per_day=3)
    grant_n(limiter, limits, 2, clock)
    for _ in range(10):
        assert take(limiter, limits).bucket == "app:second"
    clock.advance(1)
    # Ten refusals later the day still has one call left, and the second window two slots.
    assert take(limiter, limits).granted
    refused = take(limiter, limits)
    assert (refused.granted, refused.bucket) == (False, "app:day")


def test_the_minute_window_slides(limiter, clock):
    limits = replace(ROOMY, app_per_minute=3)
    for _ in range(3):
        assert take(limiter, limits).granted
        clock.advance(20)  # grants at 0, 20, 40; now 60
    clock.advance(-0.5)  # 59.5
    refused = take(limiter, limits)
    assert (refused.bucket, refused.wait_seconds) == ("app:minute", pytest.approx(0.5))
    clock.advance(0.5)
    assert take(limiter, limits).granted
    refused = take(limiter, limits)
    assert refused.wait_seconds == pytest.approx(20)  # the grant at 20 leaves at 80


def test_the_day_resets_at_utc_midnight(limiter, clock):
    limits = replace(ROOMY, app_per_day=2)
    midnight = (clock.now_us // DAY_US + 1) * DAY_US
    clock.now_us = midnight - 90 * 1_000_000  # 23:58:30
    grant_n(limiter, limits, 2, clock, step=1)
    refused = take(limiter, limits)
    assert (refused.bucket, refused.wait_seconds) == ("app:day", pytest.approx(88))
    clock.now_us = midnight - 1
    assert not take(limiter, limits).granted
    clock.now_us = midnight
    grant_n(limiter, limits, 2, clock)
    assert take(limiter, limits).bucket == "app:day"


def test_tenant_limits_bind_one_tenant_and_app_limits_bind_them_all(limiter, clock):
    limits = replace(ROOMY, tenant_per_minute=2, app_per_minute=5)
    grant_n(limiter, limits, 2, clock, tenant="a")
    assert take(limiter, limits, tenant="a").bucket == "tenant:minute"
    grant_n(limiter, limits, 2, clock, tenant="b")
    assert take(limiter, limits, tenant="b").bucket == "tenant:minute"
    assert take(limiter, limits, tenant="c").granted
    # Five app grants: every tenant is now refused by the app's minute, even a fresh one.
    refused = take(limiter, limits, tenant="d")
    assert (refused.granted, refused.bucket) == (False, "app:minute")


def test_tenant_day_limit(limiter, clock):
    limits = replace(ROOMY, tenant_per_day=1)
    assert take(limiter, limits, tenant="a").granted
    assert take(limiter, limits, tenant="a").bucket == "tenant:day"
    assert take(limiter, limits, tenant="b").granted


def test_two_apps_do_not_share_budgets(limiter, clock):
    limits = replace(ROOMY, app_per_second=1)
    assert take(limiter, limits, app="one").granted
    assert take(limiter, limits, app="two").granted
    assert not take(limiter, limits, app="one").granted


def test_the_wait_is_the_longest_among_the_binding_limits(limiter, clock):
    limits = replace(ROOMY, app_per_second=1, tenant_per_minute=1)
    assert take(limiter, limits).granted
    clock.advance(0.25)
    refused = take(limiter, limits)
    assert (refused.bucket, refused.wait_seconds) == ("tenant:minute", pytest.approx(59.75))


@pytest.mark.parametrize(
    "field",
    ["app_per_second", "app_per_minute", "app_per_day", "tenant_per_minute", "tenant_per_day"],
)
def test_a_zero_limit_stops_calls_and_acquire_gives_up_without_sleeping(limiter, clock, field):
    limits = replace(ROOMY, **{field: 0})
    refused = take(limiter, limits, lane=INTERACTIVE)
    assert not refused.granted
    assert refused.wait_seconds == math.inf
    before = clock.now_us
    with pytest.raises(LimiterTimeout) as raised:
        limiter.acquire(app="app", tenant="t1", lane=BULK, limits=limits, timeout=3600)
    assert raised.value.wait_seconds == math.inf
    assert clock.now_us == before


def test_a_pause_refuses_the_whole_app_until_it_ends(limiter, clock):
    limiter.pause(app="app", tenant=None, seconds=2.5, bucket="app:minute")
    for tenant in ("a", "b"):
        refused = take(limiter, ROOMY, tenant=tenant, lane=INTERACTIVE)
        assert (refused.bucket, refused.wait_seconds) == ("paused", pytest.approx(2.5))
    limiter.pause(app="app", tenant=None, seconds=1, bucket="app:minute")  # never shortened
    clock.advance(2.5)
    assert take(limiter, ROOMY).granted


def test_a_tenant_pause_refuses_only_that_tenant(limiter, clock):
    limiter.pause(app="app", tenant="a", seconds=10, bucket="tenant:minute")
    assert take(limiter, ROOMY, tenant="a").bucket == "paused"
    assert take(limiter, ROOMY, tenant="b").granted


def test_reconcile_raises_the_day_count_to_what_keap_reports(limiter, clock):
    limits = replace(ROOMY, app_per_day=100)
    midnight_ms = (clock.now_us // DAY_US + 1) * DAY_US // 1000
    snapshot = QuotaSnapshot(
        app_day=QuotaWindow(limit=100, used=90, available=3, reset_at_ms=midnight_ms)
    )
    limiter.reconcile(app="app", tenant="t1", snapshot=snapshot, limits=limits)
    grant_n(limiter, limits, 3, clock)  # Keap says 3 are left, not 100
    assert take(limiter, limits).bucket == "app:day"


def test_reconcile_never_lowers_a_count(limiter, clock):
    limits = replace(ROOMY, tenant_per_minute=3, tenant_per_day=10)
    grant_n(limiter, limits, 3, clock)
    snapshot = QuotaSnapshot(
        tenant_minute=QuotaWindow(limit=3, used=0, available=3),
        tenant_day=QuotaWindow(limit=10, used=0, available=10),
    )
    limiter.reconcile(app="app", tenant="t1", snapshot=snapshot, limits=limits)
    assert take(limiter, limits).bucket == "tenant:minute"


def test_reconcile_raises_the_minute_windows_with_grants_that_age_out(limiter, clock):
    limits = replace(ROOMY, app_per_minute=10, tenant_per_minute=5)
    limiter.reconcile(
        app="app",
        tenant="t1",
        snapshot=QuotaSnapshot(
            app_minute=QuotaWindow(limit=10, used=8, available=2),
            tenant_minute=QuotaWindow(limit=5, used=5, available=0),
        ),
        limits=limits,
    )
    assert take(limiter, limits, tenant="t1").bucket == "tenant:minute"
    grant_n(limiter, limits, 2, clock, tenant="t2")
    refused = take(limiter, limits, tenant="t2")
    assert (refused.bucket, refused.wait_seconds) == ("app:minute", pytest.approx(60))
    clock.advance(60)
    assert take(limiter, limits, tenant="t1").granted


def test_reconcile_ignores_a_day_that_is_not_ours(limiter, clock):
    limits = replace(ROOMY, app_per_day=100)
    midnight_us = (clock.now_us // DAY_US + 1) * DAY_US
    clock.now_us = midnight_us + 10_000_000  # 00:00:10, Keap's numbers may be yesterday's
    yesterday = QuotaSnapshot(
        app_day=QuotaWindow(limit=100, used=100, available=0, reset_at_ms=midnight_us // 1000)
    )
    no_expiry = QuotaSnapshot(tenant_day=QuotaWindow(limit=100, used=100, available=0))
    limiter.reconcile(app="app", tenant="t1", snapshot=yesterday, limits=limits)
    limiter.reconcile(app="app", tenant="t1", snapshot=no_expiry, limits=limits)
    assert take(limiter, limits).granted


def test_bulk_stops_at_its_share_of_the_day_and_interactive_still_goes(limiter, clock):
    limits = replace(ROOMY, app_per_day=10, tenant_per_day=20, interactive_reserve=0.3)
    grant_n(limiter, limits, 7, clock)
    refused = take(limiter, limits, lane=BULK)
    assert refused.bucket == "app:day"
    grant_n(limiter, limits, 3, clock, lane=INTERACTIVE)
    assert take(limiter, limits, lane=INTERACTIVE).bucket == "app:day"
    clock.now_us = (clock.now_us // DAY_US + 1) * DAY_US
    assert take(limiter, limits, lane=BULK).granted


def test_bulk_leaves_an_interactive_waiter_its_slot(limiter, clock):
    limits = replace(ROOMY, app_per_second=2)
    grant_n(limiter, limits, 2, clock, tenant="busy")
    clock.advance(0.5)
    waiting = limiter.decide(
        app="app", tenant="person", lane=INTERACTIVE, limits=limits, waiter="w1", max_wait=5
    )
    assert (waiting.bucket, waiting.wait_seconds) == ("app:second", pytest.approx(0.5))
    clock.advance(0.5)  # a slot opens; bulk gets there first but must leave it
    refused = take(limiter, limits, tenant="busy")
    assert (refused.bucket, refused.wait_seconds) == ("interactive", pytest.approx(0.01))
    granted = limiter.decide(
        app="app", tenant="person", lane=INTERACTIVE, limits=limits, waiter="w1", max_wait=5
    )
    assert granted.granted
    assert take(limiter, limits, tenant="busy").granted  # the waiter is gone; bulk goes on


def test_an_interactive_waiter_that_gave_up_blocks_bulk_only_for_the_grace_period(limiter, clock):
    limits = replace(ROOMY, app_per_second=1)
    assert take(limiter, limits).granted
    limiter.decide(app="app", tenant="p", lane=INTERACTIVE, limits=limits, waiter="w", max_wait=5)
    clock.advance(1.0 + limiter.grace_us / 1e6)
    assert take(limiter, limits).granted


def test_a_bulk_tenant_gets_at_most_its_share_of_the_second_while_others_are_backlogged(
    limiter, clock
):
    limits = replace(ROOMY, app_per_second=6)
    grant_n(limiter, limits, 1, clock, tenant="b")
    grant_n(limiter, limits, 1, clock, tenant="c")
    grant_n(limiter, limits, 2, clock, step=0.25, tenant="a")  # at .0 and .25; now .5
    refused = take(limiter, limits, tenant="a")  # three backlogged tenants: two slots each
    assert (refused.bucket, refused.wait_seconds) == ("fair", pytest.approx(0.5))
    clock.advance(1.0)  # b and c have not asked for a second: a is alone and may use all six
    grant_n(limiter, limits, 6, clock, tenant="a")


def test_a_waiting_tenant_with_fewer_grants_goes_before_one_with_more(limiter, clock):
    limits = replace(ROOMY, app_per_second=6)
    grant_n(limiter, limits, 2, clock, step=0.1, tenant="big")  # at .0 .1
    grant_n(limiter, limits, 4, clock, tenant="person", lane=INTERACTIVE)  # at .2; full
    clock.advance(0.3)
    refused = take(limiter, limits, tenant="late")  # registers as waiting for the next slot
    assert (refused.bucket, refused.wait_seconds) == ("app:second", pytest.approx(0.5))
    clock.advance(0.5)  # 1.0: big's first grant has left, one slot is open
    refused = take(limiter, limits, tenant="big")
    assert (refused.bucket, refused.wait_seconds) == ("fair", pytest.approx(0.01))
    assert take(limiter, limits, tenant="late").granted
    clock.advance(0.1)
    assert take(limiter, limits, tenant="big").granted


def test_fairness_does_not_hold_back_a_tenant_when_nobody_else_waits(limiter, clock):
    limits = replace(ROOMY, app_per_second=10)
    grant_n(limiter, limits, 10, clock, tenant="only")


def test_the_windows_and_the_fair_share_run_on_across_utc_midnight(limiter, clock):
    limits = replace(ROOMY, app_per_second=4, tenant_per_minute=12)
    midnight = (clock.now_us // DAY_US + 1) * DAY_US
    clock.now_us = midnight - 300_000
    # Keap reports calls we did not make: they count in the minutes, never in the second.
    limiter.reconcile(
        app="app",
        tenant="c",
        snapshot=QuotaSnapshot(
            app_minute=QuotaWindow(limit=100_000, used=3, available=None),
            tenant_minute=QuotaWindow(limit=12, used=12, available=0),
        ),
        limits=limits,
    )
    clock.now_us = midnight - 200_000
    assert take(limiter, limits, tenant="b").granted  # b asks in the bulk lane before midnight
    clock.now_us = midnight + 100_000
    grant_n(limiter, limits, 2, clock, tenant="a")  # after it, b still counts: two slots each
    refused = take(limiter, limits, tenant="a")
    assert (refused.bucket, refused.wait_seconds) == ("fair", pytest.approx(1.0))
    refused = take(limiter, limits, tenant="c", lane=INTERACTIVE)
    assert (refused.bucket, refused.wait_seconds) == ("tenant:minute", pytest.approx(59.6))


def test_acquire_sleeps_exactly_the_wait(limiter, clock):
    limits = replace(ROOMY, app_per_second=1)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.sleep(seconds)

    limiter._sleep = sleep
    first = limiter.acquire(app="app", tenant="t", lane=INTERACTIVE, limits=limits, timeout=1)
    limiter.settle(app="app", tenant="t", decision=first)
    clock.advance(0.3)
    second = limiter.acquire(app="app", tenant="t", lane=INTERACTIVE, limits=limits, timeout=1)
    assert second.granted_at - first.granted_at == pytest.approx(1.0)
    assert sleeps == [pytest.approx(0.7)]


def test_acquire_raises_at_once_when_the_wait_exceeds_the_timeout(limiter, clock):
    limits = replace(ROOMY, app_per_minute=1)
    assert take(limiter, limits).granted
    before = clock.now_us
    with pytest.raises(LimiterTimeout) as raised:
        limiter.acquire(app="app", tenant="t", lane=BULK, limits=limits, timeout=59)
    assert raised.value.bucket == "app:minute"
    assert raised.value.wait_seconds == pytest.approx(60)
    assert clock.now_us == before


def test_redis_unreachable_raises_limiter_unavailable():
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from webapp.limiter.redis_backend import RedisLimiter

    client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    limiter = RedisLimiter(client=client, prefix="nowhere")
    with pytest.raises(LimiterUnavailable):
        limiter.try_acquire(app="app", tenant="t", lane=BULK, limits=ROOMY)
    with pytest.raises(LimiterUnavailable):
        limiter.acquire(app="app", tenant="t", lane=BULK, limits=ROOMY, timeout=5)


def test_redis_keys_do_not_grow_with_calls(redis_prefix, clock):
    from webapp.limiter.redis_backend import RedisLimiter

    client, prefix = redis_prefix
    limiter = RedisLimiter(client=client, prefix=prefix, clock=clock)
    limits = replace(ROOMY, app_per_second=10, app_per_minute=100)
    for _ in range(600):
        take(limiter, limits, tenant="a")
        take(limiter, limits, tenant="b")
        clock.advance(0.05)
    keys = sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*"))
    assert len(keys) <= 12, keys
    base = f"{prefix}:{{app}}"
    assert client.zcard(f"{base}:m") <= 100
    # A tenant's minute is trimmed at least every 5 s: at most 5 s of grants (10/s) past its limit.
    assert client.zcard(f"{base}:tm:a") + client.zcard(f"{base}:tm:b") <= 100 + 5 * 10
    for key in keys:  # idle apps leave nothing behind
        assert client.pttl(key) > 0, key
    assert 0 < client.pttl(f"{base}:m") <= 120_000
    assert client.zcard(f"{base}:f") == 0  # every call was answered: none is in flight


def test_redis_limiter_loads_its_scripts_where_redis_has_lost_them(redis_prefix, clock):
    from webapp.limiter.redis_backend import ACQUIRE_LUA, RedisLimiter, _Script

    client, prefix = redis_prefix
    limiter = RedisLimiter(client=client, prefix=prefix, clock=clock)
    # A source Redis has never seen, as after a restart or SCRIPT FLUSH.
    limiter._acquire = _Script(f"{ACQUIRE_LUA}\n-- {uuid.uuid4().hex}\n")
    assert client.script_exists(limiter._acquire.sha) == [False]
    assert take(limiter, ROOMY).granted
    assert client.script_exists(limiter._acquire.sha) == [True]
    assert take(limiter, ROOMY).granted


def test_get_limiter_uses_redis_when_redis_url_is_set(settings):
    from webapp.limiter.db_backend import DatabaseLimiter
    from webapp.limiter.redis_backend import RedisLimiter

    settings.REDIS_URL = ""
    settings.LIMITER_REDIS_URL = ""
    assert isinstance(get_limiter(), DatabaseLimiter)
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    assert isinstance(get_limiter(), RedisLimiter)
