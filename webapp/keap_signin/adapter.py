"""Keeps Keap's tokens out of allauth's hands (and out of the session in plain text)."""

import json
from datetime import datetime
from typing import Any

from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from webapp import encryption
from webapp.keap.models import DeveloperApp

# Where the tokens of a Keap sign-in wait, sealed, between allauth's callback and the moment the
# person is signed in (after an optional signup form).
SESSION_KEY = "keap_signin_tokens"


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(
        self, request: HttpRequest, provider: str | None = None, client_id: str | None = None
    ) -> list[SocialApp]:
        """Keap's app is the developer app the connect flow uses (DeveloperApp.objects.current())."""
        apps = [
            app for app in super().list_apps(request, provider, client_id) if app.provider != "keap"
        ]
        keap = DeveloperApp.objects.current()
        if provider in (None, "keap") and client_id in (None, keap.client_id):
            # The secret stays sealed on the developer app: Onramp's own client does the exchange.
            apps.append(SocialApp(provider="keap", name="Keap", client_id=keap.client_id))
        return apps

    @sensitive_variables()
    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        """Seal the Keap tokens into the session and take them off the sociallogin.

        allauth would otherwise serialize them into the session in plain text whenever it shows a
        signup form; SOCIALACCOUNT_STORE_TOKENS is off, so it never needs them again.
        """
        token = sociallogin.token
        if sociallogin.account.provider != "keap" or token is None:
            return
        expires_at: datetime | None = token.expires_at
        request.session[SESSION_KEY] = encryption.encrypt(
            json.dumps(
                {
                    "access_token": token.token,
                    "refresh_token": token.token_secret,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                }
            )
        )
        sociallogin.token = None
