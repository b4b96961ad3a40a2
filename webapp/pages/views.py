"""Public pages, and the liveness and readiness probes."""

import logging
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webapp.celery import app as celery_app

log = logging.getLogger(__name__)


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """The front page; signed-in customers go straight to their connections."""
    if request.user.is_authenticated:
        return redirect("connections:dashboard")
    return render(request, "pages/landing.html")


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers and compose: the process serves and the database answers."""
    _check_database()
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, the cache and the Celery broker each answer; 503 if any does not."""
    checks = {name: _timed(check) for name, check in READINESS_CHECKS.items()}
    ready = all(result["ok"] for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    # Redis itself, not the default cache: that one falls back to the database while Redis is away
    # (webapp/cache.py), and the probe is for telling an operator Redis is away.
    store = caches["redis"] if "redis" in settings.CACHES else caches["default"]
    key = f"readyz:{uuid.uuid4().hex}"
    store.set(key, "1", timeout=10)
    if store.get(key) != "1":
        raise RuntimeError("the cache did not return what was just stored")
    store.delete(key)


def _check_broker() -> None:
    # One try with short timeouts: a probe must answer well inside its own timeout. (kombu's Redis
    # transport takes its socket timeouts from the transport options, not from connect_timeout.)
    timeouts = {
        "socket_connect_timeout": READINESS_TIMEOUT_SECONDS,
        "socket_timeout": READINESS_TIMEOUT_SECONDS,
    }
    with celery_app.connection_for_read(
        settings.CELERY_BROKER_URL,
        connect_timeout=READINESS_TIMEOUT_SECONDS,
        transport_options=timeouts,
    ) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=READINESS_TIMEOUT_SECONDS)


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
}
READINESS_TIMEOUT_SECONDS = 2


def _timed(check: Callable[[], None]) -> dict[str, object]:
    started = time.monotonic()
    try:
        check()
    except Exception as exc:  # any failure is "not ready", never a 500
        # Only the exception's type: the message may hold a URL with a password, and this is public.
        log.warning("Readiness check %s failed: %r", check.__name__, exc)
        result: dict[str, object] = {"ok": False, "error": type(exc).__name__}
    else:
        result = {"ok": True}
    result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result
