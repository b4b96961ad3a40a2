"""The allauth provider for Keap: a customer arriving from Keap's marketplace signs in with Keap."""

from typing import Any

from allauth.account.models import EmailAddress
from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from webapp.keap_signin.views import KeapOAuth2Adapter


class KeapAccount(ProviderAccount):
    def to_str(self) -> str:
        data = self.account.extra_data
        return str(data.get("email") or super().to_str())


class KeapProvider(OAuth2Provider):
    id = "keap"
    name = "Keap"
    account_class = KeapAccount
    oauth2_adapter_class = KeapOAuth2Adapter
    # Keap ignores PKCE (docs/keap/API.md §1.2); it is sent anyway, as on the connect flow.
    pkce_enabled_default = True

    def get_default_scope(self) -> list[str]:
        return ["full"]  # Keap's only scope

    def extract_uid(self, data: dict[str, Any]) -> str:
        return str(data["uid"])

    def extract_common_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "email": data.get("email"),
            "first_name": data.get("given_name", ""),
            "last_name": data.get("family_name", ""),
        }

    def extract_email_addresses(self, data: dict[str, Any]) -> list[EmailAddress]:
        if not data.get("email"):
            return []
        # Keap's user email is the address the person signs in to Keap with, so it counts as
        # confirmed: a marketplace customer signs up in one step.
        return [EmailAddress(email=data["email"], verified=True, primary=True)]


provider_classes = [KeapProvider]
