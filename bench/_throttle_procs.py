"""What bench/throttle.py runs in its child processes (spawned, so importable by name).

Each child sets Django up from the environment the parent prepared (REDIS_URL, DATABASE_URL, ...),
exactly as a worker would, and calls the sandbox only through Onramp's KeapClient. The one thing
added is an observer on `webapp.limiter.acquire` that keeps each grant's `Decision.granted_at`
(Redis's clock), so the parent can check every one-second window the limiter granted.
"""

from __future__ import annotations

import queue
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

GOAL = "purchased"


@dataclass(frozen=True)
class Plan:
    """Everything a child needs to call the sandbox as one developer app."""

    api_url: str
    client_id: str
    tokens: dict[str, str]  # tenant (Keap app name) -> access token
    contacts: int  # each tenant has contacts 1..contacts


def _setup_django() -> None:
    import django

    django.setup()


def _observe_grants() -> list[float]:
    """Keep the limiter's grant time of every call this process makes (observation only)."""
    from webapp import limiter

    granted: list[float] = []
    acquire = limiter.acquire

    def observed(**kwargs: Any) -> Any:
        decision = acquire(**kwargs)
        granted.append(decision.granted_at)
        return decision

    # KeapClient looks `limiter.acquire` up at call time, so this sees every grant it takes.
    limiter.acquire = observed
    return granted


def _flush_local_usage() -> None:
    """Write what this process holds in memory (only if Redis failed): multiprocessing children
    leave through os._exit, which skips the recorder's atexit hook."""
    from webapp.usage import recorder

    recorder.on_process_shutdown()


def _developer_app(plan: Plan) -> Any:
    """An unsaved DeveloperApp for the sandbox's client id, with Keap's limits of today."""
    from webapp.keap.models import DeveloperApp

    app = DeveloperApp(
        name="throttle bench",
        client_id=plan.client_id,
        api_url=plan.api_url,
        goal_api=DeveloperApp.GoalApi.REST_V1,
    )
    app.apply_preset("keap_oauth_today")
    return app


def _wait_for_start(go: Any, clock: Any) -> tuple[float, float]:
    go.wait()
    return clock[0], clock[1]


def bulk_worker(index: int, plan: Plan, jobs: Any, results: Any, go: Any, clock: Any) -> None:
    """Take jobs (tenant, items) from the shared queue and do each job's calls in order, in the
    bulk lane, until the run ends. One job at a time, like a Celery worker process."""
    _setup_django()
    from webapp.keap.calls import StaticToken
    from webapp.keap.client import KeapClient
    from webapp.keap.errors import KeapError
    from webapp.limiter import Lane

    granted = _observe_grants()
    app = _developer_app(plan)
    results.put(("ready", index))
    _, end = _wait_for_start(go, clock)
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    tenant = ""
    while time.time() < end:
        try:
            tenant, items = jobs.get(timeout=0.5)
        except queue.Empty:
            break
        client = KeapClient(
            app=app, tokens=StaticToken(plan.tokens[tenant]), tenant=tenant, lane=Lane.BULK
        )
        for item in range(items):
            if time.time() >= end:
                break
            try:
                client.achieve_goal(
                    integration=tenant, call_name=GOAL, contact_id=1 + item % plan.contacts
                )
                calls[tenant] += 1
            except KeapError as exc:
                errors[type(exc).__name__] += 1
    _flush_local_usage()
    results.put(("bulk", index, dict(calls), dict(errors), granted, tenant))


def interactive_prober(
    plan: Plan, tenant: str, results: Any, go: Any, clock: Any, warmup: float
) -> None:
    """A person waiting on a page: a userinfo call in the interactive lane every 0.4-0.6 s (random,
    so the probes do not lock onto the bulk traffic's rhythm), timed from request start to
    response, limiter wait included."""
    _setup_django()
    from webapp.keap.calls import StaticToken
    from webapp.keap.client import KeapClient
    from webapp.keap.errors import KeapError
    from webapp.limiter import Lane

    granted = _observe_grants()
    client = KeapClient(
        app=_developer_app(plan),
        tokens=StaticToken(plan.tokens[tenant]),
        tenant=tenant,
        lane=Lane.INTERACTIVE,
    )
    results.put(("ready", "interactive"))
    start, end = _wait_for_start(go, clock)
    rng = random.Random(5)  # timing jitter, not a secret
    samples: list[tuple[float, float]] = []  # (started, seconds to response)
    errors: Counter[str] = Counter()
    next_at = start + min(warmup, 1.0)
    while next_at < end - 0.5:
        time.sleep(max(0.0, next_at - time.time()))
        began, tick = time.time(), time.perf_counter()
        try:
            client.userinfo()
            samples.append((began, time.perf_counter() - tick))
        except KeapError as exc:
            errors[type(exc).__name__] += 1
        next_at += rng.uniform(0.4, 0.6)
    _flush_local_usage()
    results.put(("interactive", samples, dict(errors), granted))
