"""Hypothesis drives each backend and the plain model side by side; every decision must agree."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from tests.limiter.conftest import FakeClock
from tests.limiter.model import Model
from webapp.limiter.base import DAY_US, Lane, Limiter, Limits
from webapp.limiter.headers import QuotaSnapshot, QuotaWindow

TENANTS = st.sampled_from(["a", "b", "c"])
small = st.integers(min_value=0, max_value=5)


def windows(limit_max: int) -> st.SearchStrategy[QuotaWindow | None]:
    counts = st.none() | st.integers(min_value=0, max_value=limit_max)
    return st.none() | st.builds(QuotaWindow, limit=counts, used=counts, available=counts)


class LimiterMachine(RuleBasedStateMachine):
    make: Callable[[FakeClock], Limiter]

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.limiter = self.make(self.clock)
        self.model = Model(grace_us=self.limiter.grace_us, poll_us=self.limiter.poll_us)
        self.app = uuid.uuid4().hex[:12]  # a fresh app per example: no state leaks between them
        self.limits = Limits()
        self.last_wait = 0.0
        self.grants: list[tuple[object, object]] = []  # (backend decision, model record)

    @initialize(
        per_s=st.sampled_from([0, 1, 2, 2, 3, 3, 4, 5]),
        per_m=st.integers(min_value=1, max_value=40),
        per_day=st.integers(min_value=1, max_value=400),
        t_per_m=st.integers(min_value=1, max_value=25),
        t_per_day=st.integers(min_value=0, max_value=300),
        reserve=st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]),
        near_midnight=st.booleans(),
    )
    def setup(self, per_s, per_m, per_day, t_per_m, t_per_day, reserve, near_midnight) -> None:
        self.limits = Limits(
            app_per_second=per_s,
            app_per_minute=per_m,
            app_per_day=per_day,
            tenant_per_minute=t_per_m,
            tenant_per_day=t_per_day,
            interactive_reserve=reserve,
        )
        if near_midnight:
            self.clock.now_us = (self.clock.now_us // DAY_US + 1) * DAY_US - 3_000_000

    @rule(
        seconds=st.sampled_from([0.000001, 0.001, 0.01, 0.05, 0.2, 0.5, 0.999999, 1.0, 7, 30, 60])
    )
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(early=st.sampled_from([0.0, 0.000001]))
    def advance_by_the_last_wait(self, early: float) -> None:
        """Land exactly on (or a microsecond before) the boundary the last refusal named."""
        if 0 < self.last_wait < 100_000:
            self.clock.advance(max(self.last_wait - early, 0))

    def _check(self, tenant: str, lane: Lane, waiter: str | None, max_wait: float) -> None:
        if lane is Lane.BULK:
            waiter = None
        got = self.limiter.decide(
            app=self.app,
            tenant=tenant,
            lane=lane,
            limits=self.limits,
            waiter=waiter,
            max_wait=max_wait,
        )
        max_wait_us = int(min(max_wait, 10 * 86_400) * 1_000_000) if max_wait > 0 else 0
        expected = self.model.decide(
            now=self.clock.now_us,
            tenant=tenant,
            lane=lane,
            limits=self.limits,
            waiter=waiter,
            max_wait_us=max_wait_us,
        )
        assert (got.granted, got.wait_seconds, got.bucket) == expected
        if got.granted:
            assert got.granted_at == self.clock.now_us / 1e6
            assert got.token
            self.grants.append((got, self.model.last_grant))
        else:
            self.last_wait = got.wait_seconds
        event(f"bucket={got.bucket or 'granted'}")

    @rule(
        tenant=TENANTS,
        lane=st.sampled_from(Lane),
        waiter=st.sampled_from([None, "w1", "w2"]),
        max_wait=st.sampled_from([0.0, 0.5, 5.0, float("inf")]),
    )
    def decide(self, tenant, lane, waiter, max_wait) -> None:
        self._check(tenant, lane, waiter, max_wait)

    @rule(
        calls=st.lists(
            st.tuples(
                TENANTS,
                st.sampled_from(Lane),
                st.sampled_from([None, "w1"]),
                st.sampled_from(["gap", "to-wait", "before-wait"]),
            ),
            min_size=1,
            max_size=12,
        ),
        gap=st.sampled_from([0.0, 0.000001, 0.01, 0.1, 0.3]),
    )
    def burst(self, calls, gap) -> None:
        """Several callers in quick succession, as busy workers are; after a refusal the clock may
        jump to exactly the boundary it named (or a microsecond before), where off-by-ones live."""
        for tenant, lane, waiter, then in calls:
            self.last_wait = 0.0
            self._check(tenant, lane, waiter, float("inf"))
            if then != "gap" and 0 < self.last_wait < 100:
                self.clock.advance(self.last_wait - (0.000001 if then == "before-wait" else 0))
            else:
                self.clock.advance(gap)

    @rule(which=st.integers(min_value=0, max_value=50))
    def settle(self, which) -> None:
        """A granted call's response arrives: its grant moves to now in every window."""
        if not self.grants:
            return
        decision, record = self.grants[which % len(self.grants)]
        self.limiter.settle(app=self.app, tenant=record.tenant, decision=decision)
        self.model.settle(now=self.clock.now_us, grant=record)

    @rule(tenant=st.none() | TENANTS, seconds=st.sampled_from([0.001, 0.3, 1.5]))
    def pause(self, tenant, seconds) -> None:
        self.limiter.pause(app=self.app, tenant=tenant, seconds=seconds, bucket="test")
        self.model.pause(now=self.clock.now_us, tenant=tenant, seconds=seconds)

    @rule(
        tenant=TENANTS,
        app_day=windows(25),
        app_minute=windows(15),
        tenant_minute=windows(10),
        tenant_day=windows(20),
        reset=st.sampled_from(["ours", "yesterday", None]),
    )
    def reconcile(self, tenant, app_day, app_minute, tenant_minute, tenant_day, reset) -> None:
        if app_day is not None and reset is not None:
            midnight_ms = (self.clock.now_us // DAY_US + (1 if reset == "ours" else 0)) * 86_400_000
            app_day = QuotaWindow(app_day.limit, app_day.used, app_day.available, midnight_ms)
        snapshot = QuotaSnapshot(app_day, app_minute, tenant_minute, tenant_day)
        self.limiter.reconcile(app=self.app, tenant=tenant, snapshot=snapshot, limits=self.limits)
        self.model.reconcile(
            now=self.clock.now_us, tenant=tenant, snapshot=snapshot, limits=self.limits
        )


def run_machine(make: Callable[[FakeClock], Limiter], *, examples: int = 80) -> None:
    machine = type("Machine", (LimiterMachine,), {"make": staticmethod(make)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_redis_limiter_agrees_with_the_model(redis_prefix):
    from webapp.limiter.redis_backend import RedisLimiter

    client, prefix = redis_prefix
    run_machine(lambda clock: RedisLimiter(client=client, prefix=prefix, clock=clock))


@pytest.mark.django_db
def test_database_limiter_agrees_with_the_model():
    from webapp.limiter.db_backend import DatabaseLimiter

    run_machine(lambda clock: DatabaseLimiter(clock=clock), examples=12)
