"""Give every request an id: taken from a valid X-Request-ID or made here, logged, and returned."""

import logging
import time
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from webapp.observability.context import REQUEST_ID, new_request_id, valid_request_id
from webapp.redaction import redact

log = logging.getLogger("webapp.request")
HEADER = "X-Request-ID"
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
HOOK_PATH = "/hooks/keap/"


def _forget_request_id(**kwargs: object) -> None:
    # Cleared when the response is closed, not when the middleware returns: Django logs 4xx and 5xx
    # responses (django.request) after the middleware chain has finished, and those lines need it.
    REQUEST_ID.set(None)


class RequestIdMiddleware:
    """Outermost middleware: sets the id before anything logs, and adds it to every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        request_finished.connect(_forget_request_id, dispatch_uid="onramp-forget-request-id")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = valid_request_id(request.headers.get(HEADER)) or new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]  # ours, for views to read
        REQUEST_ID.set(request_id)
        started = time.monotonic()
        response = self.get_response(request)
        response[HEADER] = request_id
        path = _loggable_path(request)
        # Probes come every few seconds, and Keap's hook deliveries by the thousand: their
        # successes are DEBUG so they do not drown the rest.
        routine = path in PROBE_PATHS or path.startswith(HOOK_PATH)
        quiet = routine and response.status_code < 400
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s %s %s",
            request.method,
            path,
            response.status_code,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response


def _loggable_path(request: HttpRequest) -> str:
    """The path without its query string (OAuth callbacks carry codes there), and without secrets.

    allauth's email confirmation and password reset links carry their one-time key in the path,
    and a hook URL its secret; for those the URL pattern is logged instead.
    """
    match = request.resolver_match
    if match is not None and "secret" in match.kwargs:  # a hook URL: its connection, not its secret
        return redact(request.path)
    if match is not None and "key" in match.kwargs:
        return "/" + str(match.route).lstrip("^").rstrip("$")
    return request.path
