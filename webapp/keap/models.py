"""Keap developer apps: the credentials, endpoints and limits Onramp speaks to Keap with.

Keap meters OAuth traffic per developer app (client id), summed over every customer it serves, and
each customer's Keap app (tenant) has limits of its own (docs/keap/API.md §4). Every limit is data
here, editable in the admin, never a constant in code. An empty limit means "no such limit"; zero
stops calls altogether.
"""

from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.views.decorators.debug import sensitive_variables

from webapp import encryption
from webapp.limiter.base import Limits

# Named sets of limits. "Keap OAuth today" is docs/keap/API.md §4.1 (since June 2026); "Legacy FAQ" is what
# Keap's API FAQ still quotes (125,000 a day, 25 a second, nothing per minute or per tenant).
PRESETS: dict[str, dict[str, int | None]] = {
    "keap_oauth_today": {
        "limit_per_second": 25,
        "limit_per_minute": 1_500,
        "limit_per_day": 150_000,
        "tenant_limit_per_minute": 10_000,
        "tenant_limit_per_day": 250_000,
    },
    "legacy_faq": {
        "limit_per_second": 25,
        "limit_per_minute": None,
        "limit_per_day": 125_000,
        "tenant_limit_per_minute": None,
        "tenant_limit_per_day": None,
    },
}
# "No such limit" becomes a number the limiter never reaches.
UNLIMITED = 10**12
PRESET_LABELS = {"keap_oauth_today": "Keap OAuth today", "legacy_faq": "Legacy FAQ"}


class DeveloperAppManager(models.Manager["DeveloperApp"]):
    def current(self) -> "DeveloperApp":
        """The developer app Onramp connects new customers with: the one for KEAP_CLIENT_ID.

        Created from the KEAP_* settings the first time it is needed, with "Keap OAuth today"'s
        limits; from then on the admin edits it.
        """
        app = self.filter(client_id=settings.KEAP_CLIENT_ID).first()
        if app is not None:
            return app
        app = DeveloperApp(
            name="Default",
            client_id=settings.KEAP_CLIENT_ID,
            authorize_url=settings.KEAP_AUTHORIZE_URL,
            token_url=settings.KEAP_TOKEN_URL,
            api_url=settings.KEAP_API_URL,
        )
        app.set_client_secret(settings.KEAP_CLIENT_SECRET)
        app.apply_preset("keap_oauth_today")
        app.save()
        return app


def _limit(help_text: str) -> "models.PositiveIntegerField[int | None, int | None]":
    return models.PositiveIntegerField(null=True, blank=True, help_text=help_text)


class DeveloperApp(models.Model):
    """One Keap developer app (a client id and secret) and the budget Keap gives it."""

    class GoalApi(models.TextChoices):
        REST_V1 = "rest_v1", "REST v1 (campaigns/goals)"
        REST_V2 = "rest_v2", "REST v2 (automations/goals/achieve)"
        XMLRPC = "xmlrpc", "XML-RPC (FunnelService.achieveGoal)"

    name = models.CharField(max_length=100)
    client_id = models.CharField(max_length=255, unique=True)
    client_secret_sealed = models.TextField(editable=False)
    authorize_url = models.URLField(default="https://accounts.infusionsoft.com/app/oauth/authorize")
    token_url = models.URLField(default="https://api.infusionsoft.com/token")
    api_url = models.URLField(
        default="https://api.infusionsoft.com/crm",
        help_text="Base of REST (/rest/v1, /rest/v2) and XML-RPC (/xmlrpc/v1).",
    )
    limit_per_second = _limit("Spike limit across every customer, per second (Keap: 25).")
    limit_per_minute = _limit("Across every customer, per rolling minute (Keap: 1,500).")
    limit_per_day = _limit("Across every customer, per UTC day (Keap: 150,000).")
    tenant_limit_per_minute = _limit("Per customer Keap app, per rolling minute (Keap: 10,000).")
    tenant_limit_per_day = _limit("Per customer Keap app, per UTC day (Keap: 250,000).")
    interactive_reserve = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.10"),
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of each daily budget kept for calls a person is waiting for.",
    )
    goal_api = models.CharField(max_length=10, choices=GoalApi, default=GoalApi.REST_V1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[DeveloperAppManager] = DeveloperAppManager()

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @sensitive_variables()
    def client_secret(self) -> str:
        return encryption.decrypt(self.client_secret_sealed)

    @sensitive_variables()
    def set_client_secret(self, secret: str) -> None:
        self.client_secret_sealed = encryption.encrypt(secret)

    def apply_preset(self, preset: str) -> None:
        for field, value in PRESETS[preset].items():
            setattr(self, field, value)

    def limiter_limits(self) -> Limits:
        """These limits as the limiter takes them (empty means unlimited)."""

        def value(limit: int | None) -> int:
            return UNLIMITED if limit is None else limit

        return Limits(
            app_per_second=value(self.limit_per_second),
            app_per_minute=value(self.limit_per_minute),
            app_per_day=value(self.limit_per_day),
            tenant_per_minute=value(self.tenant_limit_per_minute),
            tenant_per_day=value(self.tenant_limit_per_day),
            interactive_reserve=float(self.interactive_reserve),
        )
