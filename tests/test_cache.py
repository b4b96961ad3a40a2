"""The default cache with Redis configured: Redis while it answers, the database while it does not."""

import logging

import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.workers.processes import RedisServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis.log").start()
    yield server
    server.stop()


def _caches(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "webapp.cache.RedisOrDatabaseCache",
            "OPTIONS": {"PRIMARY": "redis", "FALLBACK": "database", "RETRY_SECONDS": 0},
        },
        "redis": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
        "database": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "onramp_cache",
        },
    }


def test_values_go_to_redis_and_to_the_database_while_redis_is_away(redis_server, caplog):
    with override_settings(CACHES=_caches(redis_server.url)):
        cache = caches["default"]
        cache.set("up", 1)
        assert caches["redis"].get("up") == 1
        assert caches["database"].get("up") is None

        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="webapp.cache"):
            cache.set("away", 2)
            assert cache.get("away") == 2
            assert cache.incr("away") == 3
            assert cache.get_many(["away", "nothing"]) == {"away": 3}
        assert caches["database"].get("away") == 3
        assert "Redis unreachable" in caplog.text

        redis_server.start()
        cache.set("back", 4)
        assert caches["redis"].get("back") == 4
        caches["default"].close()
