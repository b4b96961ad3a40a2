"""Site-wide security middleware: the Content-Security-Policy, and two-factor sign-in for staff."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from allauth.mfa.models import Authenticator
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy from settings, with Keap's consent page added to `form-action`.

    The connect and Sign in with Keap buttons POST to Onramp, which answers with a redirect to
    KEAP_AUTHORIZE_URL; Chromium checks `form-action` against every redirect after a form submission,
    so that origin must be allowed. It is read per request, not frozen into the settings dict, so the
    policy follows KEAP_AUTHORIZE_URL wherever it is set (tests point it at a sandbox on any port).
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only:
            keap = _origin(settings.KEAP_AUTHORIZE_URL)
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), keap]
            parts.update = update
        return parts


# Pages a staff member without an authenticator may still open: the ones that set it up.
MFA_SETUP_URL_NAMES = frozenset(
    {"mfa_activate_totp", "account_reauthenticate", "mfa_reauthenticate", "account_logout"}
)


class StaffMFARequiredMiddleware:
    """Staff must have an authenticator app: until they do, every page sends them to set one up.

    allauth then asks staff who have one for a code at every sign-in, so the admin, the operations
    pages and anything else behind `is_staff` are never reached on a password alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return None
        match = request.resolver_match
        if match is not None and match.url_name in MFA_SETUP_URL_NAMES:
            return None
        if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            return None
        url = reverse("mfa_activate_totp")
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(url)
        messages.warning(
            request, "Staff accounts need two-factor sign-in: set up an authenticator app first."
        )
        return HttpResponseRedirect(url)
