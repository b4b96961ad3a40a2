"""Keap's OAuth 2.0 server: the authorize (sign-in, consent) pages and the token endpoint.

Paths are Keap's own (`/app/oauth/authorize` on accounts.infusionsoft.com, `/token` on
api.infusionsoft.com), so only the host differs from real Keap. See docs/keap/API.md §1.
"""

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from webapp.sandbox import grants, switches
from webapp.sandbox.models import DeveloperApp, KeapUser, RequestCount
from webapp.sandbox.seed import DEMO_PASSWORD

SESSION_USER_KEY = "sandbox_keap_user_id"
KNOWN_GRANT_TYPES = {"authorization_code", "refresh_token"}


@dataclass(frozen=True)
class AuthorizeRequest:
    developer_app: DeveloperApp
    redirect_uri: str
    state: str | None
    code_challenge: str
    code_challenge_method: str


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """Keap's authorize page: sign in, pick one of your Keap apps, then Allow or Deny."""
    parsed = _parse_authorize(request)
    if isinstance(parsed, HttpResponse):
        return parsed
    keap_user = _signed_in_user(request)
    if keap_user is None:
        return _signin_page(request, next_url=request.get_full_path())
    if request.method == "POST":
        return _decide(request, parsed, keap_user)
    return _consent_page(request, parsed, keap_user)


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Sign in to the sandbox as a seeded Keap user, then go back to `next`."""
    next_url = request.POST.get("next") or request.GET.get("next") or "/sandbox/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/sandbox/"
    if request.method == "GET":
        return _signin_page(request, next_url=next_url)
    keap_user = KeapUser.objects.filter(email__iexact=request.POST.get("email", "").strip()).first()
    if keap_user is None or not keap_user.check_password(request.POST.get("password", "")):
        return _signin_page(
            request, next_url=next_url, error="Email or password is incorrect.", status=401
        )
    # A fresh session key on sign-in, so a planted session id can't ride along (fixation).
    request.session.cycle_key()
    request.session[SESSION_USER_KEY] = keap_user.pk
    return HttpResponseRedirect(next_url)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Sign out of the sandbox and go back to `next` (the authorize page shows sign-in again)."""
    request.session.flush()
    next_url = request.POST.get("next") or "/sandbox/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/sandbox/"
    return HttpResponseRedirect(next_url)


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    """Keap's token endpoint: exchange an authorization code, or rotate a refresh token."""
    grant_type = request.POST.get("grant_type", "")
    # Keap answers any non-form body with this exact error (docs/keap/API.md §1.4, forum thread
    # 16256).
    if request.content_type != "application/x-www-form-urlencoded" or not grant_type:
        return _token_error("invalid_request", "response_type or grant_type is required")
    RequestCount.increment(f"token:{grant_type if grant_type in KNOWN_GRANT_TYPES else 'other'}")
    if grant_type not in KNOWN_GRANT_TYPES:
        return _token_error("unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    developer_app = _authenticate_client(request)
    if isinstance(developer_app, HttpResponse):
        return developer_app
    try:
        if grant_type == "authorization_code":
            pair = _exchange(request, developer_app)
        else:
            pair = _refresh(request, developer_app)
    except grants.TokenError as exc:
        return _token_error(exc.error, exc.description, status=exc.status)
    return _token_json(
        {
            "access_token": pair.access_token,
            "token_type": "bearer",
            "expires_in": pair.expires_in,
            "refresh_token": pair.refresh_token,
            "scope": pair.scope,
        }
    )


def _exchange(request: HttpRequest, developer_app: DeveloperApp) -> grants.TokenPair:
    code = request.POST.get("code", "")
    redirect_uri = request.POST.get("redirect_uri", "")
    if not code or not redirect_uri:
        raise grants.TokenError("invalid_request", "code and redirect_uri are required")
    return grants.exchange_code(
        developer_app=developer_app,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=request.POST.get("code_verifier", ""),
    )


def _refresh(request: HttpRequest, developer_app: DeveloperApp) -> grants.TokenPair:
    refresh_token = request.POST.get("refresh_token", "")
    if not refresh_token:
        raise grants.TokenError("invalid_request", "refresh_token is required")
    return grants.refresh(developer_app=developer_app, refresh_token=refresh_token)


def _authenticate_client(request: HttpRequest) -> DeveloperApp | HttpResponse:
    """The developer app the request's credentials prove, or the error that refuses them."""
    # Keap documents body credentials for the code exchange and Basic for refresh; accept
    # either on both (docs/keap/API.md §1.3, §1.4), but two that disagree are refused.
    basic = None
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            client_id, sep, secret = (
                base64.b64decode(header[6:], validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            return _invalid_client(basic_used=True)
        basic = (client_id, secret)
    body = (request.POST.get("client_id", ""), request.POST.get("client_secret", ""))
    if basic is not None and body[0] and body != basic:
        return _invalid_client(basic_used=True)
    client_id, secret = basic or body
    developer_app = DeveloperApp.objects.filter(client_id=client_id).first() if client_id else None
    if developer_app is None or not developer_app.check_client_secret(secret):
        return _invalid_client(basic_used=basic is not None)
    return developer_app


def _invalid_client(*, basic_used: bool) -> HttpResponse:
    response = _token_error("invalid_client", "Client authentication failed", status=401)
    if basic_used:
        # RFC 6749 5.2: a failed Basic authentication names its scheme.
        response["WWW-Authenticate"] = 'Basic realm="token"'
    return response


def _token_json(payload: dict[str, Any], status: int = 200) -> HttpResponse:
    response = JsonResponse(payload, status=status, content_type="application/json;charset=UTF-8")
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _token_error(error: str, description: str, status: int = 400) -> HttpResponse:
    return _token_json({"error": error, "error_description": description}, status=status)


def _parse_authorize(request: HttpRequest) -> AuthorizeRequest | HttpResponse:
    query = request.GET
    client_id = query.get("client_id", "")
    redirect_uri = query.get("redirect_uri", "")
    developer_app = DeveloperApp.objects.filter(client_id=client_id).first() if client_id else None
    # Until client and redirect URI are both proven, errors stay on this page: redirecting to an
    # unverified URI would make the sandbox an open redirector.
    if developer_app is None:
        return _error_page(request, "The client_id is missing or not a registered application.")
    if not redirect_uri or not developer_app.allows_redirect_uri(redirect_uri):
        return _error_page(
            request, "The redirect_uri is missing or does not match the registered ones."
        )
    state = query.get("state")
    response_type = query.get("response_type") or "code"
    if response_type != "code":
        return _redirect(
            redirect_uri,
            state,
            error="unsupported_response_type",
            error_description="Only response_type=code is supported",
        )
    scope = query.get("scope") or "full"
    if scope != "full":
        return _redirect(
            redirect_uri,
            state,
            error="invalid_scope",
            error_description="Only scope=full is supported",
        )
    code_challenge = query.get("code_challenge", "")
    code_challenge_method = query.get("code_challenge_method", "")
    if code_challenge and code_challenge_method != "S256" and switches.current()["enforce_pkce"]:
        # RFC 7636 §4.4.1: a transformation the server does not support is invalid_request.
        return _redirect(
            redirect_uri,
            state,
            error="invalid_request",
            error_description="code_challenge_method must be S256",
        )
    return AuthorizeRequest(
        developer_app=developer_app,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
    )


def _decide(request: HttpRequest, parsed: AuthorizeRequest, keap_user: KeapUser) -> HttpResponse:
    decision = request.POST.get("decision")
    if decision == "deny":
        return _redirect(
            parsed.redirect_uri,
            parsed.state,
            error="access_denied",
            error_description="The user denied access to the application",
        )
    tenant = keap_user.tenants.filter(app_name=request.POST.get("app", "")).first()
    if decision != "allow" or tenant is None:
        return _consent_page(
            request, parsed, keap_user, error="Pick one of your Keap apps, then Allow.", status=400
        )
    code = grants.issue_code(
        developer_app=parsed.developer_app,
        tenant=tenant,
        keap_user=keap_user,
        redirect_uri=parsed.redirect_uri,
        state=parsed.state,
        code_challenge=parsed.code_challenge,
        code_challenge_method=parsed.code_challenge_method,
    )
    return _redirect(parsed.redirect_uri, parsed.state, code=code, scope=tenant.scope)


def _redirect(redirect_uri: str, state: str | None, **params: str) -> HttpResponse:
    if state is not None:
        params["state"] = state
    separator = "&" if "?" in redirect_uri else "?"
    # urlencode turns "full|ab123.infusionsoft.com" into "full%7Cab123...", as Keap sends it.
    return HttpResponseRedirect(f"{redirect_uri}{separator}{urlencode(params)}")


def _signed_in_user(request: HttpRequest) -> KeapUser | None:
    user_id = request.session.get(SESSION_USER_KEY)
    return KeapUser.objects.filter(pk=user_id).first() if user_id else None


def _signin_page(
    request: HttpRequest, *, next_url: str, error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "next": next_url,
        "error": error,
        "email": request.POST.get("email", ""),
        "demo_users": KeapUser.objects.prefetch_related("tenants"),
        "demo_password": DEMO_PASSWORD,
    }
    return render(request, "sandbox/signin.html", context, status=status)


def _consent_page(
    request: HttpRequest,
    parsed: AuthorizeRequest,
    keap_user: KeapUser,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "developer_app": parsed.developer_app,
        "keap_user": keap_user,
        "tenants": keap_user.tenants.all(),
        "error": error,
    }
    return render(request, "sandbox/consent.html", context, status=status)


def _error_page(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "sandbox/oauth_error.html", {"message": message}, status=400)
