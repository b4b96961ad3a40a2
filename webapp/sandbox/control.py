"""Simulator-only controls under `/sandbox/` (Keap has none of these).

No authentication: the sandbox is a local test double and `serve` binds to 127.0.0.1 by default,
so only processes on this machine can reach these endpoints. Do not expose it on a network.
"""

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.sandbox import clock, stats
from webapp.sandbox.models import AccessToken, DeveloperApp, Grant, KeapUser, Tenant


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_GET
def stats_view(request: HttpRequest) -> JsonResponse:
    """Counts of the requests the sandbox saw, by endpoint name, plus live grants and tokens."""
    now = clock.now()
    return JsonResponse(
        {
            "requests": stats.counts(),
            "grants": {
                "active": Grant.objects.filter(refresh_token_digest__isnull=False).count(),
                "revoked": Grant.objects.filter(revoked_at__isnull=False).count(),
            },
            "access_tokens": AccessToken.objects.filter(expires_at__gt=now).count(),
            "now": now.isoformat(),
        }
    )


@csrf_exempt
@require_POST
def stats_reset(request: HttpRequest) -> JsonResponse:
    """Forget every request counter."""
    stats.reset()
    return JsonResponse({"requests": {}})


def _app_json(developer_app: DeveloperApp) -> dict:
    return {"client_id": developer_app.client_id, "redirect_uris": developer_app.redirect_uris}


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def developer_app_view(request: HttpRequest) -> JsonResponse:
    """Show the registered developer app, or PUT {"redirect_uris": [...]} to re-register them."""
    developer_app = DeveloperApp.objects.order_by("pk").first()
    if developer_app is None:
        return _error(404, "No developer app is registered; run `python -m webapp.sandbox seed`")
    if request.method == "PUT":
        try:
            uris = json.loads(request.body)["redirect_uris"]
        except (ValueError, KeyError, TypeError):
            return _error(400, 'Send JSON {"redirect_uris": ["https://..."]}')
        if not isinstance(uris, list) or not all(
            isinstance(uri, str) and uri.startswith(("http://", "https://")) for uri in uris
        ):
            return _error(400, "redirect_uris must be a list of http(s) URLs")
        developer_app.redirect_uris = uris
        developer_app.save(update_fields=["redirect_uris"])
    return JsonResponse(_app_json(developer_app))


@csrf_exempt
@require_POST
def revoke_tenant(request: HttpRequest, app_name: str) -> JsonResponse:
    """Revoke every grant for a tenant, as a Keap user removing the app's access would."""
    tenant = Tenant.objects.filter(app_name=app_name).first()
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    revoked = Grant.objects.filter(tenant=tenant).revoke(now=clock.now())
    return JsonResponse({"tenant": tenant.app_name, "revoked_grants": revoked})


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """A human overview of the sandbox: tenants, users, grants and request counts."""
    context = {
        "developer_app": DeveloperApp.objects.order_by("pk").first(),
        "tenants": Tenant.objects.prefetch_related("users"),
        "users": KeapUser.objects.prefetch_related("tenants"),
        "grants": Grant.objects.select_related("tenant", "keap_user").order_by("-updated_at"),
        "counts": stats.counts(),
        "now": clock.now(),
    }
    return render(request, "sandbox/dashboard.html", context)
