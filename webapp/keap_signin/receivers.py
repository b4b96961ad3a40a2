"""Connect the Keap app a customer signed in with, in the same step."""

import json
import logging
from datetime import datetime
from typing import Any

from allauth.account.signals import user_logged_in
from django.contrib import messages
from django.dispatch import receiver
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from webapp import encryption
from webapp.accounts.models import User
from webapp.connections import flows
from webapp.keap.models import DeveloperApp
from webapp.keap.oauth import TokenSet
from webapp.keap.results import AccountProfile, UserInfo
from webapp.keap_signin.adapter import SESSION_KEY

log = logging.getLogger(__name__)


@receiver(user_logged_in)
@sensitive_variables()
def connect_keap_app_on_sign_in(
    sender: Any, request: HttpRequest, user: User, **kwargs: Any
) -> None:
    """After a sign-in with Keap, store the connection to the Keap app the person picked."""
    sociallogin = kwargs.get("sociallogin")
    sealed = request.session.pop(SESSION_KEY, None)
    if sociallogin is None or sociallogin.account.provider != "keap" or not sealed:
        return
    stored = json.loads(encryption.decrypt(sealed))
    data = sociallogin.account.extra_data
    tokens = TokenSet(
        access_token=stored["access_token"],
        refresh_token=stored["refresh_token"],
        expires_at=datetime.fromisoformat(stored["expires_at"]),
        scope=data["scope"],
    )
    connection = flows.save_connection(
        app=DeveloperApp.objects.current(),
        user=user,
        tokens=tokens,
        userinfo=UserInfo(
            email=data.get("email", ""),
            given_name=data.get("given_name", ""),
            family_name=data.get("family_name", ""),
            global_user_id=data["uid"] if isinstance(data.get("uid"), int) else None,
            sub=str(data.get("uid", "")),
        ),
        profile=AccountProfile(
            name=data.get("business_name", ""),
            email=data.get("business_email", ""),
            phone=data.get("business_phone", ""),
            website=data.get("business_website", ""),
            time_zone=data.get("time_zone", ""),
        ),
    )
    messages.success(
        request, f"Connected Keap app {connection.app_name} ({connection.business_name})."
    )
