"""The default cache: Redis, and the database while Redis cannot be reached.

What Onramp keeps in its cache must keep working without Redis: above all allauth's brute-force
limits, which count failed sign-ins there, so a cache that failed open would lift them and one
that raised would stop everyone signing in. This backend sends each operation to Redis; when Redis
refuses or times out, it sends it (and every operation for the next few seconds, so requests do not
each wait out a timeout) to Django's database cache instead. Counts made meanwhile stay in the
database and Redis starts afresh when it returns: limits hold throughout, only their windows may
restart once.

django-cache-fallback does this for any two caches, but it catches every exception (hiding real
bugs), tries the broken backend again on every call, and configures logging on import; so this is
our own, small, and aware of which errors mean "Redis is away".
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

log = logging.getLogger(__name__)
AWAY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class RedisOrDatabaseCache(BaseCache):
    """CACHES["default"]; OPTIONS name the two aliases (PRIMARY, FALLBACK) and RETRY_SECONDS."""

    _lock = threading.Lock()
    _away_until = 0.0  # shared by every instance in the process (one per thread)

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = params.get("OPTIONS", {})
        self._primary = options["PRIMARY"]
        self._fallback = options["FALLBACK"]
        self._retry_seconds = float(options.get("RETRY_SECONDS", 5))

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= RedisOrDatabaseCache._away_until:
            try:
                return getattr(caches[self._primary], name)(*args, **kwargs)
            except AWAY as exc:
                self._mark_away(exc)
        return getattr(caches[self._fallback], name)(*args, **kwargs)

    def _mark_away(self, exc: Exception) -> None:
        with self._lock:
            was_up = time.monotonic() >= RedisOrDatabaseCache._away_until
            RedisOrDatabaseCache._away_until = time.monotonic() + self._retry_seconds
        if was_up:
            log.warning("Cache: Redis unreachable (%s); using the database cache meanwhile", exc)

    def _delegate(name: str) -> Callable[..., Any]:  # type: ignore[misc]  # builds methods below
        def method(self: "RedisOrDatabaseCache", *args: Any, **kwargs: Any) -> Any:
            return self._call(name, *args, **kwargs)

        method.__name__ = name
        return method

    add = _delegate("add")
    get = _delegate("get")
    set = _delegate("set")
    touch = _delegate("touch")
    delete = _delegate("delete")
    get_many = _delegate("get_many")
    set_many = _delegate("set_many")
    delete_many = _delegate("delete_many")
    has_key = _delegate("has_key")
    incr = _delegate("incr")
    decr = _delegate("decr")
    clear = _delegate("clear")

    def close(self, **kwargs: Any) -> None:
        for alias in (self._primary, self._fallback):
            caches[alias].close(**kwargs)
