"""Eight real processes share one limiter: no one-second window ever holds more than the limit,
also when each process's own clock is two seconds off (only the limiter's clock counts)."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
from django.db import connection

from tests.limiter._workers import Job, hammer, setup_django
from tests.limiter.conftest import LIMITER_REDIS_URL
from webapp.limiter.base import Lane, Limits

OFFSETS = {"same clocks": [0.0] * 8, "clocks two seconds apart": [2.0, -2.0] * 4}


def worst_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    worst, lo = 0, 0
    for hi, t in enumerate(times):
        # Grants at t and t + width are in different windows ([a, a + width) is half-open).
        while times[lo] <= t - width:
            lo += 1
        worst = max(worst, hi - lo + 1)
    return worst


@pytest.fixture(scope="module")
def pool():
    """Eight spawned processes with Django set up, shared by this module's tests (start-up is
    the slow part)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(8, initializer=setup_django) as workers:
        yield workers


def run_jobs(pool, jobs: list[Job]) -> list[float]:
    results = pool.map(hammer, jobs, chunksize=1)
    return [t for times in results for t in times]


@pytest.mark.parametrize("offsets", OFFSETS.values(), ids=OFFSETS.keys())
def test_eight_processes_never_exceed_the_per_second_limit_on_redis(pool, redis_prefix, offsets):
    _, prefix = redis_prefix
    app = uuid.uuid4().hex[:8]
    seconds, limit = 2.5, 20
    jobs = [
        Job("redis", seconds, offset, app, f"t{i % 4}", limit, LIMITER_REDIS_URL, prefix)
        for i, offset in enumerate(offsets)
    ]
    grants = run_jobs(pool, jobs)
    assert worst_window(grants) <= limit
    # And the budget is spent, not wasted: the processes run at least `seconds` together.
    assert len(grants) >= 0.9 * limit * seconds


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("offsets", [[0.0] * 4, [2.0, -2.0] * 2], ids=OFFSETS.keys())
def test_four_processes_never_exceed_the_per_second_limit_on_the_database(pool, offsets):
    app = uuid.uuid4().hex[:8]
    seconds, limit = 2.0, 10
    name = connection.settings_dict["NAME"]
    jobs = [
        Job("db", seconds, offset, app, f"t{i % 2}", limit, db_name=name)
        for i, offset in enumerate(offsets)
    ]
    grants = run_jobs(pool, jobs)
    assert worst_window(grants) <= limit
    assert len(grants) >= 0.9 * limit * seconds


def test_processes_forked_from_one_that_used_the_redis_limiter_share_its_budget(redis_prefix):
    """Celery's prefork pool forks workers from a process that may have decided already: each child
    must talk to Redis over its own connection, never its parent's."""
    from webapp.limiter.redis_backend import RedisLimiter

    client, prefix = redis_prefix
    limiter = RedisLimiter(client=client, prefix=prefix)
    limits = Limits(app_per_minute=3, interactive_reserve=0.0)

    def take() -> tuple[bool, str]:
        decision = limiter.try_acquire(app="forked", tenant="t", lane=Lane.BULK, limits=limits)
        return decision.granted, decision.bucket

    assert take() == (True, "")  # the parent's connection is open before the fork
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child() -> None:
        results.put([take() for _ in range(2)])

    children = [context.Process(target=child) for _ in range(2)]
    for process in children:
        process.start()
    decisions = [d for _ in children for d in results.get(timeout=30)]
    for process in children:
        process.join(timeout=30)
        assert process.exitcode == 0
    decisions.append(take())  # and the parent's connection still works after they are gone
    assert sorted(decisions) == [(False, "app:minute")] * 3 + [(True, "")] * 2
