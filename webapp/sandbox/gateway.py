"""Keap's API gateway: authenticate, meter and (when asked) misbehave, before any routing.

Like Keap's Apigee gateway it answers with a `fault` body before any route is looked at, so an
unauthenticated request to a path that does not exist still gets a 401 (docs/keap/API.md §5.1),
and a request line over Apigee's 7 KB gets its 414 TooBigLine fault (on /token too).
Then every authenticated request is metered (`quota.admit`, one write transaction), refused with
429 when over a limit, and put through any injected faults. Every metered response leaves with the
`x-keap-tenant-id` and quota headers.
"""

import contextlib
import json
import re
import socket
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from webapp.sandbox import grants, quota, switches
from webapp.sandbox.api_errors import v1_error, v2_error
from webapp.sandbox.credentials import digest
from webapp.sandbox.models import ApiKey, DeveloperApp, KeapUser, Tenant

API_PATH = re.compile(r"^/crm/(rest|xmlrpc)(/|$)")
# Apigee's limit on the request line ("GET /crm/rest/v2/contacts?filter=... HTTP/1.1"), which it
# enforces before anything else (docs.apigee.com, "414 Request-URI Too Long - TooBigLine").
MAX_REQUEST_LINE = 7168
TOO_BIG_LINE = {
    "fault": {
        "faultstring": "request line size exceeding 7,168",
        "detail": {"errorcode": "protocol.http.TooBigLine"},
    }
}
# Where the gateway names a request it refused before routing, for stats.py to count it by.
COUNT_AS = "sandbox.count_as"

MISSING_TOKEN = {
    "fault": {
        "faultstring": "Invalid access token",
        "detail": {"errorcode": "oauth.v2.InvalidAccessToken"},
    }
}
INVALID_TOKEN = {
    "fault": {
        "faultstring": "Invalid Access Token",
        "detail": {"errorcode": "keymanagement.service.invalid_access_token"},
    }
}
# Apigee's VerifyAPIKey fault; Keap's own body for a bad PAT/SAK is UNCONFIRMED.
INVALID_API_KEY = {
    "fault": {
        "faultstring": "Invalid ApiKey",
        "detail": {"errorcode": "oauth.v2.InvalidApiKey"},
    }
}
QUOTA_EXCEEDED = {
    "code": "429",
    "message": "Quota Exceeded",
    "status": "Request Throttled",
    "details": None,
}
LEGACY_THROTTLED = (
    "Server encountered exception: com.infusionsoft.throttle.ThrottlingException: "
    "Maximum number of threads throttled"
)


@dataclass
class KeapCaller:
    """Who is calling the API: set on `request.keap` for every authenticated API request.

    The user and developer app load on first use: most calls never need them.
    """

    tenant: Tenant
    keap_user_id: int
    principal: str
    key_kind: str
    grant_id: int | None = None
    developer_app_id: int | None = None
    api_key: ApiKey | None = None

    @cached_property
    def keap_user(self) -> KeapUser:
        return KeapUser.objects.get(pk=self.keap_user_id)

    @cached_property
    def developer_app(self) -> DeveloperApp | None:
        if self.developer_app_id is None:
            return None
        return DeveloperApp.objects.get(pk=self.developer_app_id)


class KeapRequest(HttpRequest):
    """A request the gateway admitted to an API view: who is calling, and the switches and
    limits as they stood when it was metered."""

    keap: KeapCaller
    sandbox_settings: dict[str, Any]
    # Set when the quota transaction counted the request already (stats.py reads it).
    sandbox_counted: bool


class KeapGatewayMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not API_PATH.match(request.path) and request.path != "/token":
            return self.get_response(request)
        if _request_line_size(request) > MAX_REQUEST_LINE:
            request.META[COUNT_AS] = "gateway:request_line_too_long"
            return JsonResponse(TOO_BIG_LINE, status=414)
        if request.path == "/token":
            return self.get_response(request)
        caller = _authenticate(request)
        if isinstance(caller, HttpResponse):
            return caller
        endpoint = _endpoint_name(request)
        is_xmlrpc = request.path.startswith("/crm/xmlrpc")
        decision = quota.admit(
            principal=caller.principal,
            key_kind=caller.key_kind,
            tenant_id=caller.tenant.pk,
            tenant_name=caller.tenant.app_name,
            endpoint=endpoint,
            path=request.path,
            legacy=is_xmlrpc,
        )
        # From here on it is a KeapRequest: these three lines set what that type promises.
        admitted = cast(KeapRequest, request)
        # The traffic counters were bumped in the quota transaction already.
        admitted.sandbox_counted = True
        admitted.keap = caller
        admitted.sandbox_settings = decision.settings
        if decision.legacy_fault:
            response = _xmlrpc_fault(500, LEGACY_THROTTLED)
        elif not decision.admitted:
            response = _throttled(decision, caller)
        else:
            response = self._serve(admitted, decision, caller)
        for name, value in decision.headers.items():
            response[name] = value
        response["x-keap-tenant-id"] = caller.tenant.host
        return response

    def _serve(
        self, request: KeapRequest, decision: quota.Decision, caller: KeapCaller
    ) -> HttpResponse:
        if decision.legacy_delay:
            try:
                time.sleep(decision.legacy_delay)
            finally:
                quota.release_legacy_thread(caller.tenant.pk)
        effect = None
        for fault in decision.faults:
            if fault["kind"] == "latency":
                time.sleep(fault.get("ms", 0) / 1000)
            elif effect is None:
                effect = fault
        if effect is None:
            return self.get_response(request)
        kind = effect["kind"]
        if kind == "error":
            return _injected_error(request, effect.get("status", 500))
        if kind == "timeout":
            if effect.get("processed"):
                self.get_response(request)
            time.sleep(effect.get("seconds", 30))
            if effect.get("then", "504") == "close":
                _drop_connection(request)
            return JsonResponse(
                {
                    "fault": {
                        "faultstring": "Gateway Timeout",
                        "detail": {"errorcode": "messaging.adaptors.http.flow.GatewayTimeout"},
                    }
                },
                status=504,
            )
        response = self.get_response(request)
        return _malformed(response, effect.get("mode", "truncated"))


def _request_line_size(request: HttpRequest) -> int:
    # gunicorn passes the request target as sent; Django's own view of it is the fallback.
    target = request.META.get("RAW_URI") or request.get_full_path()
    protocol = request.META.get("SERVER_PROTOCOL", "HTTP/1.1")
    return len(f"{request.method} {target} {protocol}".encode())


def _authenticate(request: HttpRequest) -> KeapCaller | HttpResponse:
    api_key = request.headers.get("X-Keap-API-Key", "").strip()
    if api_key:
        key = (
            ApiKey.objects.select_related("tenant", "keap_user")
            .filter(key_digest=digest(api_key), revoked_at__isnull=True)
            .first()
        )
        if key is None:
            request.META[COUNT_AS] = "gateway:invalid_api_key"
            return JsonResponse(INVALID_API_KEY, status=401)
        return KeapCaller(
            tenant=key.tenant,
            keap_user_id=key.keap_user_id,
            principal=f"key:{key.pk}",
            key_kind="key",
            api_key=key,
        )
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header and "access_token" in request.GET and switches.current()["query_access_token"]:
        # The older form Keap's docs show (docs/keap/API.md §2.1, §3.3); a header wins over it.
        scheme, token = "bearer", request.GET["access_token"].strip()
    if scheme.lower() != "bearer" or not token:
        request.META[COUNT_AS] = "gateway:missing_token"
        return JsonResponse(MISSING_TOKEN, status=401)
    found = grants.find_bearer(token)
    if found is None:
        request.META[COUNT_AS] = "gateway:invalid_token"
        return JsonResponse(INVALID_TOKEN, status=401)
    grant_id, keap_user_id, developer_app_id, tenant = found
    return KeapCaller(
        tenant=tenant,
        keap_user_id=keap_user_id,
        principal=f"app:{developer_app_id}",
        key_kind="app",
        grant_id=grant_id,
        developer_app_id=developer_app_id,
    )


def _endpoint_name(request: HttpRequest) -> str:
    try:
        return resolve(request.path_info).url_name or "unnamed"
    except Resolver404:
        return "not_found"


def _throttled(decision: quota.Decision, caller: KeapCaller) -> HttpResponse:
    body: dict[str, Any]
    if decision.settings["throttle_body"] == "fault":
        if decision.refused_by == "second":
            limit = decision.settings[f"{caller.key_kind}_limit_per_second"]
            body = {
                "fault": {
                    "faultstring": (
                        f"Spike arrest violation. Allowed rate : MessageRate{{capacity={limit}, "
                        "period=Seconds}"
                    ),
                    "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
                }
            }
        else:
            identifier = (
                caller.developer_app.client_id if caller.developer_app else caller.principal
            )
            body = {
                "fault": {
                    "faultstring": (
                        "Rate limit quota violation. Quota limit exceeded. "
                        f"Identifier : {identifier}"
                    ),
                    "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
                }
            }
    else:
        body = QUOTA_EXCEEDED
    response = JsonResponse(body, status=429)
    if decision.retry_after is not None:
        response["Retry-After"] = str(decision.retry_after)
    return response


def _injected_error(request: HttpRequest, status: int) -> HttpResponse:
    if status == 500:
        if request.path.startswith("/crm/rest/v2"):
            return v2_error(500, "Internal Server Error")
        return v1_error(500, "Internal Server Error")
    # Anything else comes from the gateway layer, in Apigee's fault shape.
    names = {502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
    reason = names.get(status, "ServiceUnavailable")
    return JsonResponse(
        {
            "fault": {
                "faultstring": re.sub(r"(?<!^)(?=[A-Z])", " ", reason),
                "detail": {"errorcode": f"messaging.adaptors.http.flow.{reason}"},
            }
        },
        status=status,
    )


def _drop_connection(request: HttpRequest) -> None:
    # gunicorn hands the client socket to the app: shutting it down is what a dying gateway does.
    sock = request.META.get("gunicorn.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _malformed(response: HttpResponse, mode: str) -> HttpResponse:
    if mode == "html":
        broken = HttpResponse(
            "<html><head><title>Error</title></head><body><h1>Service Unavailable</h1>"
            "</body></html>",
            status=response.status_code,
            content_type="text/html; charset=UTF-8",
        )
        return broken
    body = response.content or json.dumps({"message": ""}).encode()
    truncated = HttpResponse(
        body[: max(1, len(body) // 2)],
        status=response.status_code,
        content_type=response.get("Content-Type", "application/json"),
    )
    return truncated


def _xmlrpc_fault(code: int, message: str) -> HttpResponse:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True)
    return HttpResponse(body, content_type="text/xml; charset=UTF-8")
