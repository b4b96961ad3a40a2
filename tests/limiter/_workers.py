"""Code that runs in the child processes of test_multiprocess.py (spawned, so importable by name)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    backend: str  # "redis" or "db"
    seconds: float
    clock_offset: float  # added to this process's time.time(): only the limiter's clock may matter
    app: str
    tenant: str
    per_second: int
    redis_url: str = ""
    prefix: str = ""
    db_name: str = ""


REAL_TIME, REAL_TIME_NS = time.time, time.time_ns


def setup_django() -> None:
    """Pool initializer: each child process sets Django up once, as a worker would."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()


def _skew_process_clock(offset: float) -> None:
    time.time = lambda: REAL_TIME() + offset  # type: ignore[assignment]
    time.time_ns = lambda: REAL_TIME_NS() + int(offset * 1e9)  # type: ignore[assignment]


def hammer(job: Job) -> list[float]:
    """Acquire bulk calls as fast as the limiter allows for `job.seconds`; return grant times."""
    _skew_process_clock(job.clock_offset)
    try:
        return _hammer(job)
    finally:
        _skew_process_clock(0.0)


def _hammer(job: Job) -> list[float]:
    from webapp.limiter.base import Lane, Limiter, Limits

    limiter: Limiter
    if job.backend == "redis":
        import redis

        from webapp.limiter.redis_backend import RedisLimiter

        limiter = RedisLimiter(client=redis.Redis.from_url(job.redis_url), prefix=job.prefix)
    else:
        from django.db import connections

        from webapp.limiter.db_backend import DatabaseLimiter

        # The parent's test database, not the development one named in settings.
        connections["default"].settings_dict["NAME"] = job.db_name
        limiter = DatabaseLimiter()
    limits = Limits(
        app_per_second=job.per_second,
        app_per_minute=100_000,
        app_per_day=1_000_000,
        tenant_per_minute=100_000,
        tenant_per_day=1_000_000,
        interactive_reserve=0.0,
    )
    granted: list[float] = []
    end = time.monotonic() + job.seconds
    while time.monotonic() < end:
        decision = limiter.acquire(
            app=job.app, tenant=job.tenant, lane=Lane.BULK, limits=limits, timeout=5
        )
        assert decision.granted_at is not None
        granted.append(decision.granted_at)
        # The call is answered at once: settling ends its flight, so its slot frees 1 s later.
        limiter.settle(app=job.app, tenant=job.tenant, decision=decision)
    if job.backend == "db":
        from django.db import connections

        connections.close_all()
    return granted
