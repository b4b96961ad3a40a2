"""allauth's own admin pages, made safe: no client secret or OAuth token is ever shown.

allauth registers SocialApp with its secret in a plain text box and SocialToken with the token in
the list. Onramp never stores social tokens (SOCIALACCOUNT_STORE_TOKENS is off; Keap's tokens are
sealed on the connection), so that page goes; a SocialApp's secret becomes write-only.
"""

from allauth.socialaccount.admin import SocialAppAdmin, SocialAppForm
from allauth.socialaccount.models import SocialApp, SocialToken
from django import forms
from django.contrib import admin


class WriteOnlySecretSocialAppForm(SocialAppForm):
    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the stored secret. It is never shown.",
    )

    def clean_secret(self) -> str:
        # Blank keeps what is stored; the field never round-trips the old value through the page.
        return self.cleaned_data.get("secret") or (self.instance.secret if self.instance else "")


class SafeSocialAppAdmin(SocialAppAdmin):
    form = WriteOnlySecretSocialAppForm


for model in (SocialApp, SocialToken):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
admin.site.register(SocialApp, SafeSocialAppAdmin)
