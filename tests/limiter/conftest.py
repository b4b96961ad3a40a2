"""Both limiter backends behind one fixture, each on a clock the test controls.

Redis tests use LIMITER_TEST_REDIS_URL, else the suite's REDIS_URL, else database 15, with a key
prefix of their own, and delete their keys afterwards, so they never touch the keys of other tests or
of a running Onramp.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from tests.conftest import missing_service
from webapp.limiter.base import Limiter

LIMITER_REDIS_URL = (
    os.environ.get("LIMITER_TEST_REDIS_URL")
    or os.environ.get("REDIS_URL")
    or "redis://127.0.0.1:6379/15"
)
# A Tuesday noon, far from midnight; tests that need midnight move there themselves.
START_US = int(datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()) * 1_000_000


class FakeClock:
    """Epoch microseconds that move only when told; also the limiter's sleep and monotonic."""

    def __init__(self, start_us: int = START_US) -> None:
        self.now_us = start_us

    def __call__(self) -> int:
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += round(seconds * 1_000_000)

    def monotonic(self) -> float:
        return self.now_us / 1_000_000

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


def redis_or_skip(url: str = LIMITER_REDIS_URL) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        missing_service("redis")
    return client


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


@pytest.fixture
def redis_prefix() -> Iterator[tuple[redis.Redis, str]]:
    client = redis_or_skip()
    prefix = f"test-limiter-{uuid.uuid4().hex[:10]}"
    yield client, prefix
    delete_prefix(client, prefix)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_limiter(kind: str, clock: FakeClock, request: pytest.FixtureRequest) -> Limiter:
    timing = {"clock": clock, "sleep": clock.sleep, "monotonic": clock.monotonic}
    if kind == "redis":
        from webapp.limiter.redis_backend import RedisLimiter

        client, prefix = request.getfixturevalue("redis_prefix")
        return RedisLimiter(client=client, prefix=prefix, **timing)
    from webapp.limiter.db_backend import DatabaseLimiter

    return DatabaseLimiter(**timing)


@pytest.fixture(params=["redis", pytest.param("db", marks=pytest.mark.django_db)])
def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> Limiter:
    """Each backend in turn, on the test's clock."""
    return make_limiter(request.param, clock, request)
