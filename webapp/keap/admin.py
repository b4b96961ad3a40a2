from typing import Any

from django import forms
from django.contrib import admin

from webapp.keap.models import PRESET_LABELS, DeveloperApp


class DeveloperAppForm(forms.ModelForm[DeveloperApp]):
    """The secret is write-only: typed in to change it, never shown. Presets fill every limit."""

    client_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the stored secret. It is sealed, never shown.",
    )
    authorize_url = forms.URLField(assume_scheme="https")
    token_url = forms.URLField(assume_scheme="https")
    api_url = forms.URLField(assume_scheme="https")
    preset = forms.ChoiceField(
        required=False,
        choices=[("", "— keep the limits below —"), *PRESET_LABELS.items()],
        help_text="Fill every limit from a named set (overrides the limits below).",
    )

    class Meta:
        model = DeveloperApp
        fields = (
            "name", "client_id", "client_secret", "authorize_url", "token_url", "api_url",
            "preset", "limit_per_second", "limit_per_minute", "limit_per_day",
            "tenant_limit_per_minute", "tenant_limit_per_day", "interactive_reserve", "goal_api",
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.instance.pk and not cleaned.get("client_secret"):
            self.add_error("client_secret", "A new developer app needs its client secret.")
        return cleaned

    def save(self, commit: bool = True) -> DeveloperApp:
        app: DeveloperApp = super().save(commit=False)
        if self.cleaned_data.get("client_secret"):
            app.set_client_secret(self.cleaned_data["client_secret"])
        if self.cleaned_data.get("preset"):
            app.apply_preset(self.cleaned_data["preset"])
        if commit:
            app.save()
        return app


@admin.register(DeveloperApp)
class DeveloperAppAdmin(admin.ModelAdmin[DeveloperApp]):
    form = DeveloperAppForm
    list_display = (
        "name", "client_id", "limit_per_second", "limit_per_minute", "limit_per_day",
        "tenant_limit_per_minute", "tenant_limit_per_day", "interactive_reserve", "goal_api",
    )  # fmt: skip
    search_fields = ("name", "client_id")
