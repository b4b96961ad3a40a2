"""A customer's connection to one Keap app, its tokens (sealed), and what happened to it."""

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from webapp import encryption

if TYPE_CHECKING:
    from webapp.accounts.models import User


class ConnectionQuerySet(models.QuerySet["KeapConnection"]):
    def owned_by(self, user: "User") -> "ConnectionQuerySet":
        return self.filter(owner=user)

    def active(self) -> "ConnectionQuerySet":
        return self.filter(status=KeapConnection.Status.ACTIVE)

    def idle_since(self, cutoff: datetime) -> "ConnectionQuerySet":
        """Active connections whose refresh token was issued before cutoff (keep-alive's work)."""
        return self.active().filter(refresh_token_issued_at__lt=cutoff)


class KeapConnection(models.Model):
    """One customer's grant to one Keap app (tenant), e.g. `ab123`.

    Reconnecting the same Keap app updates this row in place, so history and synced data survive.
    The tokens are stored sealed (see webapp.encryption) and are only ever opened to call Keap.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"
        # Set by staff. Anything not ACTIVE is left alone by beat (syncs, keep-alive), and
        # webapp.connections.tokens refuses to hand out a token for it, so no job calls Keap.
        PAUSED = "paused", "Paused"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="keap_connections"
    )
    # The developer app whose client id the tokens were issued to (and whose budget they spend).
    developer_app = models.ForeignKey(
        "keap.DeveloperApp", on_delete=models.PROTECT, related_name="connections"
    )
    app_name = models.CharField("Keap app", max_length=255, help_text="e.g. ab123")
    business_name = models.CharField(max_length=255, blank=True)
    scope = models.CharField(max_length=255, blank=True)
    keap_user_email = models.EmailField("Keap user", blank=True)
    keap_user_id = models.CharField("Keap user id", max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.ACTIVE)

    # Sealed with webapp.encryption; empty once disconnected. Never shown anywhere.
    access_token_sealed = models.TextField(blank=True, default="", editable=False)
    refresh_token_sealed = models.TextField(blank=True, default="", editable=False)
    access_expires_at = models.DateTimeField("access token expires", null=True, blank=True)
    refresh_token_issued_at = models.DateTimeField(null=True, blank=True)
    # After Keap's token endpoint timed out or failed, no refresh is tried again before this.
    refresh_retry_after = models.DateTimeField(null=True, blank=True)

    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        ordering = ("-connected_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("owner", "app_name"), name="one_connection_per_keap_app"
            )
        ]

    def __str__(self) -> str:
        return f"{self.app_name} ({self.get_status_display()})"

    @property
    def has_tokens(self) -> bool:
        return bool(self.access_token_sealed)

    @property
    def needs_reconnect(self) -> bool:
        return self.status == self.Status.NEEDS_RECONNECT

    @sensitive_variables()
    def access_token(self) -> str:
        """Open the access token, to call Keap with. Raises DecryptionError if no key opens it."""
        return encryption.decrypt(self.access_token_sealed)

    @sensitive_variables()
    def refresh_token(self) -> str:
        return encryption.decrypt(self.refresh_token_sealed)

    @sensitive_variables()
    def store_tokens(self, *, access_token: str, refresh_token: str, expires_at: datetime) -> None:
        """Seal a new token pair onto this row (the caller saves)."""
        now = timezone.now()
        self.access_token_sealed = encryption.encrypt(access_token)
        if refresh_token:
            self.refresh_token_sealed = encryption.encrypt(refresh_token)
            self.refresh_token_issued_at = now
        self.access_expires_at = expires_at
        self.refresh_retry_after = None

    def forget_tokens(self) -> None:
        self.access_token_sealed = ""
        self.refresh_token_sealed = ""
        self.access_expires_at = None
        self.refresh_token_issued_at = None
        self.refresh_retry_after = None


class ConnectionEvent(models.Model):
    """The audit trail of a connection: what happened, when, and who did it. Never a secret."""

    class Kind(models.TextChoices):
        CONNECTED = "connected", "Connected"
        RECONNECTED = "reconnected", "Reconnected"
        REFRESHED = "refreshed", "Token refreshed"
        REFRESH_FAILED = "refresh_failed", "Token refresh failed"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"
        PAUSED = "paused", "Paused by staff"
        RESUMED = "resumed", "Resumed by staff"
        SYNC_FORCED = "sync_forced", "Sync forced by staff"
        REFRESH_FORCED = "refresh_forced", "Refresh forced by staff"

    connection = models.ForeignKey(KeapConnection, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-at", "-pk")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"
