"""Fixtures for usage: both buffers (in-process and Redis), each starting empty.

Redis tests use database 14 and a key prefix of their own, and delete their keys afterwards, so they
never touch a running Onramp's buffer (database 0) or other tests' keys.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
import redis

from tests.conftest import missing_service
from webapp.usage import recorder
from webapp.usage.records import CallRecord

USAGE_REDIS_URL = os.environ.get("USAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
# A fixed instant well inside a UTC day, so minute and day buckets are predictable.
NOON = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def make_call(**overrides: object) -> CallRecord:
    values: dict[str, object] = {
        "app": "client-1",
        "tenant": "ab123",
        "connection_id": 7,
        "operation": "contacts.list.v1",
        "lane": "bulk",
        "status": 200,
        "latency_ms": 80,
        "at": NOON,
    }
    values.update(overrides)
    return CallRecord(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _empty_local_buffer(settings):
    """No background thread unless a test asks for one, and nothing left over between tests."""
    settings.USAGE_FLUSH_INTERVAL_SECONDS = 0
    settings.USAGE_REDIS_URL = ""
    settings.REDIS_URL = ""
    recorder.LOCAL.stop()
    recorder.LOCAL.reset()
    yield
    recorder.LOCAL.stop()
    recorder.LOCAL.reset()


@pytest.fixture
def redis_buffer(settings):
    """Point usage at a Redis buffer of this test's own; returns the RedisBuffer."""
    client = redis.Redis.from_url(USAGE_REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        missing_service("redis")
    prefix = f"test-usage-{uuid.uuid4().hex[:10]}"
    settings.USAGE_REDIS_URL = USAGE_REDIS_URL
    settings.USAGE_REDIS_PREFIX = prefix
    buffer = recorder.redis_buffer()
    assert buffer is not None
    yield buffer
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(params=["local", "redis"])
def backend(request) -> str:
    """Run a test once with the in-process buffer and once with the Redis buffer."""
    if request.param == "redis":
        request.getfixturevalue("redis_buffer")
    return request.param
