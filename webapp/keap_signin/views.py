"""allauth's OAuth2 views for Keap, with the token exchange and API calls done by webapp.keap.

allauth keeps the state (session-bound, single use) and the PKCE verifier; Onramp's own Keap client
makes every call to Keap, so this sign-in obeys the same rules as the connect flow: credentials in
the form body, a redirect URI fixed by configuration, typed errors, no secret in any log.
"""

from typing import Any

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from webapp.accounts.decorators import no_referrer
from webapp.keap import oauth
from webapp.keap.calls import StaticToken
from webapp.keap.client import KeapClient
from webapp.keap.errors import KeapError
from webapp.keap.models import DeveloperApp


class KeapOAuth2Adapter(OAuth2Adapter):
    provider_id = "keap"

    @property
    def authorize_url(self) -> str:
        return DeveloperApp.objects.current().authorize_url

    @property
    def access_token_url(self) -> str:
        return DeveloperApp.objects.current().token_url

    def get_callback_url(self, request: HttpRequest, app: Any) -> str:
        # Fixed by configuration and registered with Keap, never built from the Host header.
        return settings.KEAP_SIGNIN_REDIRECT_URI

    @sensitive_variables()
    def get_access_token_data(
        self, request: HttpRequest, app: Any, client: Any, pkce_code_verifier: str | None = None
    ) -> dict[str, Any]:
        try:
            tokens = oauth.exchange_code(
                DeveloperApp.objects.current(),
                code=request.GET.get("code", ""),
                code_verifier=pkce_code_verifier or "",
                redirect_uri=settings.KEAP_SIGNIN_REDIRECT_URI,
            )
        except KeapError as exc:
            raise OAuth2Error(str(exc)) from None
        self.did_fetch_access_token = True
        seconds = max(int((tokens.expires_at - timezone.now()).total_seconds()), 0)
        return {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": seconds,
            "scope": tokens.scope,
        }

    @sensitive_variables()
    def complete_login(self, request: HttpRequest, app: Any, token: Any, **kwargs: Any) -> Any:
        response = kwargs.get("response") or {}
        try:
            app_name = oauth.app_name_from_scope(response.get("scope", ""))
            keap = KeapClient(
                app=DeveloperApp.objects.current(), tokens=StaticToken(token.token), tenant=app_name
            )
            userinfo = keap.userinfo()
            profile = keap.account_profile()
        except KeapError as exc:
            raise OAuth2Error(str(exc)) from None
        data = {
            "uid": userinfo.global_user_id or userinfo.sub,
            "email": userinfo.email,
            "given_name": userinfo.given_name,
            "family_name": userinfo.family_name,
            "app_name": app_name,
            "scope": response.get("scope", ""),
            "business_name": profile.name,
            "business_email": profile.email,
            "business_phone": profile.phone,
            "business_website": profile.website,
            "time_zone": profile.time_zone,
        }
        return (
            get_adapter(request)
            .get_provider(request, self.provider_id)
            .sociallogin_from_response(request, data)
        )


oauth2_login = OAuth2LoginView.adapter_view(KeapOAuth2Adapter)
oauth2_callback = no_referrer(OAuth2CallbackView.adapter_view(KeapOAuth2Adapter))
