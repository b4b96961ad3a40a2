"""allauth's two-factor forms, counting attempts the way its password sign-in does.

A two-factor code is checked against allauth's "login_failed" limits, per client address and per
account. When the code is right, allauth wipes those counts, the address's included, so anyone
could reset the count of the address they guess passwords from by signing in to an account of
their own with its authenticator app. Here a right code takes back only its own attempt, as a
right password does (allauth's account adapter, `authenticate`).
"""

from collections.abc import Callable

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core import context
from allauth.core.internal import ratelimit
from allauth.mfa.adapter import get_adapter
from allauth.mfa.base.forms import AuthenticateForm as AllauthAuthenticateForm
from allauth.mfa.base.forms import ReauthenticateForm as AllauthReauthenticateForm
from allauth.mfa.internal.flows.add import validate_can_add_authenticator
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.forms import ActivateTOTPForm as AllauthActivateTOTPForm
from allauth.mfa.totp.internal import auth as totp

from webapp.accounts.models import User


def _count_attempt(user: User, error_key: str) -> ratelimit.RateLimitUsage:
    """Count one two-factor attempt, or refuse it when the limits are spent."""
    usage = ratelimit.consume(
        context.request,
        app="allauth.account",
        action="login_failed",
        key=f"mfa-auth-user-{user.pk}",
    )
    if usage is None:
        raise get_account_adapter().validation_error(error_key)
    return usage


class _CodeCheck:
    """Check a code against the user's authenticators (recovery codes too), counted as above."""

    user: User
    cleaned_data: dict[str, str]
    authenticator: Authenticator
    _emit_authentication_failed: Callable[[Authenticator], None]  # allauth's forms define it

    def clean_code(self) -> str:
        attempt = _count_attempt(self.user, "too_many_login_attempts")
        code = self.cleaned_data["code"]
        # A passkey cannot check a typed code; TOTP comes first among the rest.
        authenticators = sorted(
            Authenticator.objects.filter(user=self.user).exclude(type=Authenticator.Type.WEBAUTHN),
            key=lambda authenticator: authenticator.type != Authenticator.Type.TOTP,
        )
        for authenticator in authenticators:
            if authenticator.wrap().validate_code(code):
                authenticator.user = self.user
                self.authenticator = authenticator
                attempt.rollback()
                return code
        if authenticators:
            self._emit_authentication_failed(authenticators[0])
        raise get_adapter().validation_error("incorrect_code")


class AuthenticateForm(_CodeCheck, AllauthAuthenticateForm):
    """The code asked for after the password, at sign-in."""


class ReauthenticateForm(_CodeCheck, AllauthReauthenticateForm):
    """The code asked for again before a sensitive change."""


class ActivateTOTPForm(AllauthActivateTOTPForm):
    """Setting up an authenticator app: the first code it shows proves it is set up right."""

    def clean_code(self) -> str:
        validate_can_add_authenticator(self.user)
        attempt = _count_attempt(self.user, "rate_limited")
        code = self.cleaned_data["code"]
        if not totp.validate_totp_code(self.secret, code):
            raise get_adapter().validation_error("incorrect_code")
        attempt.rollback()
        return str(code)
