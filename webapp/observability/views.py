"""The Prometheus scrape endpoint."""

import hmac
import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from webapp.observability.metrics import OnrampCollector

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "::1"}


def _may_scrape(request: HttpRequest) -> bool:
    """METRICS_TOKEN as a bearer token; without one, only loopback and only with DEBUG on."""
    token = settings.METRICS_TOKEN
    if not token:
        return settings.DEBUG and request.META.get("REMOTE_ADDR") in LOOPBACK
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Onramp's metrics in Prometheus text format, for a scraper holding METRICS_TOKEN."""
    if not _may_scrape(request):
        # 404, not 401: whoever lacks the token learns nothing, not even that metrics exist here.
        raise Http404
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OnrampCollector())
    try:
        body = generate_latest(registry)
    except Exception:
        # A store is down: a status the scraper records as a failed scrape, not a 500 page.
        log.exception("Collecting metrics failed")
        return HttpResponse("metrics unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
