"""Keap's API gateway: authenticate every `/crm/rest` and `/crm/xmlrpc` request before routing.

Like Keap's Apigee gateway, it answers with a `fault` body before any route is looked at, so an
unauthenticated request to a path that does not exist still gets a 401 (API.md 5.1). Every
authenticated response leaves through here, which is where per-response headers (the tenant id
now, the quota headers later) are added.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, JsonResponse

from webapp.sandbox import grants
from webapp.sandbox.models import AccessToken, DeveloperApp, Grant, KeapUser, Tenant

API_PATH = re.compile(r"^/crm/(rest|xmlrpc)(/|$)")

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


@dataclass(frozen=True)
class KeapCaller:
    """Who is calling the API: set on `request.keap` for every authenticated API request."""

    access_token: AccessToken
    grant: Grant
    tenant: Tenant
    keap_user: KeapUser
    developer_app: DeveloperApp


class KeapGatewayMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not API_PATH.match(request.path):
            return self.get_response(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            request.sandbox_count_as = "gateway:missing_token"
            return JsonResponse(MISSING_TOKEN, status=401)
        access_token = grants.find_access_token(token)
        if access_token is None:
            request.sandbox_count_as = "gateway:invalid_token"
            return JsonResponse(INVALID_TOKEN, status=401)
        grant = access_token.grant
        request.keap = KeapCaller(
            access_token=access_token,
            grant=grant,
            tenant=grant.tenant,
            keap_user=grant.keap_user,
            developer_app=grant.developer_app,
        )
        response = self.get_response(request)
        response["x-keap-tenant-id"] = grant.tenant.host
        return response
