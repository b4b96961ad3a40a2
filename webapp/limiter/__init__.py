"""One quota limiter shared by every worker that calls Keap.

Keap meters a developer app across all its customers (25 calls/second spike, 1,500/minute,
150,000/day) and each customer's Keap app (tenant) on its own (10,000/minute, 250,000/day). Before
every call a worker asks `acquire(...)`; the limiter decides against all five limits in one atomic
step, on one clock, and either grants or says exactly how long to wait. A 429 pauses the bucket
(`pause`), and every response's `x-keap-*` headers raise our counts to Keap's (`reconcile`).

Why our own and not the `limits` package (read: limits 5.8.0, its Redis storage and Lua scripts):
its moving window is one sorted list per limit and `hit()` answers a bare yes/no, so
- five limits would be five separate `hit()` calls: no atomic decision across them, and a call refused
  by the third has already been counted by the first two;
- the timestamp is the worker's own `time.time()`, so workers with skewed clocks disagree about
  every window; here only Redis's clock counts;
- the wait comes from a second, separate `get_window_stats()` call (racy, whole seconds), not from
  the refusal itself;
- it has no fixed UTC day, no lanes, no reserve, no fairness between tenants, and nothing to raise a
  count to what the server reports.

Use:
    decision = acquire(app=client_id, tenant=app_name, lane=Lane.BULK, limits=limits, timeout=30)
    ... call Keap ...
    settle(app=client_id, tenant=app_name, decision=decision,
           snapshot=parse_quota_headers(response.headers), limits=limits)

`settle` moves the call's grant to the time its answer came (see base.py) and reconciles, in one
round trip; call it also when the call failed without an answer.

Raises LimiterUnavailable when the store is down (send nothing) and LimiterTimeout when the budget
will not come back within `timeout`.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.signals import setting_changed

from webapp.limiter.base import (
    Decision,
    Lane,
    Limiter,
    LimiterError,
    LimiterTimeout,
    LimiterUnavailable,
    Limits,
)
from webapp.limiter.headers import QuotaSnapshot, QuotaWindow, parse_quota_headers

__all__ = [
    "Decision",
    "Lane",
    "Limiter",
    "LimiterError",
    "LimiterTimeout",
    "LimiterUnavailable",
    "Limits",
    "QuotaSnapshot",
    "QuotaWindow",
    "acquire",
    "get_limiter",
    "in_flight",
    "parse_quota_headers",
    "pause",
    "reconcile",
    "settle",
    "try_acquire",
]

_lock = threading.Lock()
_cached: tuple[tuple[str, str, float, float, float], Limiter] | None = None


def _settings_key() -> tuple[str, str, float, float, float]:
    return (
        settings.LIMITER_REDIS_URL or settings.REDIS_URL,
        settings.LIMITER_KEY_PREFIX,
        float(settings.LIMITER_REDIS_TIMEOUT_SECONDS),
        float(settings.LIMITER_GRACE_SECONDS),
        float(settings.LIMITER_POLL_SECONDS),
    )


def _forget(**_: object) -> None:
    """A changed setting (tests' override_settings) makes the next get_limiter look again."""
    global _fast
    _fast = None


_fast: Limiter | None = None
setting_changed.connect(_forget, dispatch_uid="webapp.limiter.forget")


def get_limiter() -> Limiter:
    """Redis when REDIS_URL (or LIMITER_REDIS_URL) is set, else the database limiter.

    Built once per process and kept (every Keap call asks for it); settings changed at runtime
    (which only tests do) are noticed through Django's `setting_changed` signal."""
    global _cached, _fast
    fast = _fast
    if fast is not None:
        return fast
    key = _settings_key()
    with _lock:
        if _cached is None or _cached[0] != key:
            url, prefix, timeout, grace, poll = key
            grace_us, poll_us = int(grace * 1e6), int(poll * 1e6)
            limiter: Limiter
            if url:
                import redis
                from redis.backoff import ExponentialBackoff
                from redis.retry import Retry

                from webapp.limiter.redis_backend import RedisLimiter

                # One quick retry, then LimiterUnavailable: a worker must not hang for long on a
                # Redis that is gone, and must not call Keap either.
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
                )
                limiter = RedisLimiter(
                    client=client, prefix=prefix, grace_us=grace_us, poll_us=poll_us
                )
            else:
                from webapp.limiter.db_backend import DatabaseLimiter

                limiter = DatabaseLimiter(grace_us=grace_us, poll_us=poll_us)
            _cached = (key, limiter)
        _fast = _cached[1]
        return _cached[1]


def try_acquire(*, app: str, tenant: str, lane: Lane, limits: Limits) -> Decision:
    return get_limiter().try_acquire(app=app, tenant=tenant, lane=lane, limits=limits)


def acquire(*, app: str, tenant: str, lane: Lane, limits: Limits, timeout: float) -> Decision:
    return get_limiter().acquire(app=app, tenant=tenant, lane=lane, limits=limits, timeout=timeout)


def pause(*, app: str, tenant: str | None, seconds: float, bucket: str) -> None:
    get_limiter().pause(app=app, tenant=tenant, seconds=seconds, bucket=bucket)


def reconcile(*, app: str, tenant: str, snapshot: QuotaSnapshot, limits: Limits) -> None:
    get_limiter().reconcile(app=app, tenant=tenant, snapshot=snapshot, limits=limits)


def settle(
    *,
    app: str,
    tenant: str,
    decision: Decision | None,
    snapshot: QuotaSnapshot | None = None,
    limits: Limits | None = None,
) -> None:
    get_limiter().settle(
        app=app, tenant=tenant, decision=decision, snapshot=snapshot, limits=limits
    )


def in_flight(*, app: str) -> int:
    return get_limiter().in_flight(app=app)
