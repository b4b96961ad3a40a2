"""Counting the requests the sandbox sees, by endpoint name, in the database.

Counts live in the database (not in memory) so they add up across gunicorn workers and threads,
and tests can prove what did or did not reach the sandbox.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from webapp.sandbox.gateway import COUNT_AS
from webapp.sandbox.models import RequestCount


class RequestCounterMiddleware:
    """Count each request under its URL name, or the name a short-circuiting layer gave it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/sandbox/"):
            return response  # the simulator's own controls and pages are not Keap traffic
        if getattr(request, "sandbox_counted", False):
            return response  # metered API calls were counted inside the quota transaction
        name = request.META.get(COUNT_AS)
        if name is None and request.resolver_match is not None:
            name = request.resolver_match.url_name
        if name:
            RequestCount.increment(name)
        return response


def counts() -> dict[str, int]:
    """Return every counter as a name → count dict, sorted by name."""
    return dict(RequestCount.objects.order_by("name").values_list("name", "count"))


def reset() -> None:
    """Forget every counter."""
    RequestCount.objects.all().delete()
