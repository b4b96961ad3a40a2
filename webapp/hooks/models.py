"""Keap's REST hooks for a connection: its subscriptions, its hook URL's secret, what Keap sent.

Keap signs nothing it delivers, so the hook URL itself is the credential: each connection's URL
ends in a random secret that only a digest of is kept, compared in constant time, and replaced
whenever the subscriptions are made again.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from webapp.connections.models import KeapConnection

# The contact events Onramp subscribes to, one subscription each (Keap's event keys).
EVENT_KEYS = ("contact.add", "contact.edit", "contact.delete")
SECRET_BYTES = 32


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored_digest: str, secret: str) -> bool:
    """Whether `secret` is the one whose digest is stored, compared in constant time."""
    return bool(stored_digest) and hmac.compare_digest(stored_digest, digest(secret))


class HookEndpointQuerySet(models.QuerySet["HookEndpoint"]):
    def verified(self) -> "HookEndpointQuerySet":
        return self.filter(status=HookEndpoint.Status.VERIFIED)


class HookEndpoint(models.Model):
    """Where Keap pushes one connection's contact changes, and how well that is going."""

    class Status(models.TextChoices):
        SUBSCRIBING = "subscribing", "Subscribing"
        VERIFIED = "verified", "Verified"
        FAILING = "failing", "Failing"  # not verified, or Keap made it inactive: polled instead
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    connection = models.OneToOneField(
        KeapConnection, on_delete=models.CASCADE, related_name="hook_endpoint"
    )
    secret_digest = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status, default=Status.SUBSCRIBING)
    detail = models.CharField(max_length=300, blank=True)  # why it is failing, in words
    verified_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)  # subscriptions last looked at
    failing_since = models.DateTimeField(null=True, blank=True)
    # When the subscriptions are next looked at: a day after a good check, sooner (backing off)
    # while they fail, and a while after a check is queued (so it is queued once).
    next_check_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # verifications failed in a row
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HookEndpointQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Hooks of connection {self.connection_id}: {self.status}"

    def new_secret(self) -> str:
        """A fresh secret for the URL (the old one stops working); returned once, kept as a digest."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        self.secret_digest = digest(secret)
        return secret

    def accepts(self, secret: str) -> bool:
        return secret_matches(self.secret_digest, secret)


def hook_url(connection_id: int, secret: str) -> str:
    """The URL Keap delivers one connection's events to (public: SITE_URL)."""
    return hook_url_prefix(connection_id) + secret


def hook_url_prefix(connection_id: int) -> str:
    """Every URL this connection's subscriptions ever had starts so, whatever its secret."""
    path = reverse("hooks:intake", args=[connection_id, "-"]).removesuffix("-")
    return f"{settings.SITE_URL}{path}"


class HookSubscription(models.Model):
    """One of a connection's subscriptions at Keap, as Keap last described it."""

    class Status(models.TextChoices):
        UNVERIFIED = "Unverified"
        VERIFIED = "Verified"
        INACTIVE = "Inactive"

    endpoint = models.ForeignKey(
        HookEndpoint, on_delete=models.CASCADE, related_name="subscriptions"
    )
    event_key = models.CharField(max_length=50)
    key = models.CharField(max_length=100)  # Keap's id of the subscription
    status = models.CharField(max_length=12, choices=Status)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_key"], name="one_hook_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.event_key} ({self.status})"


class HookDelivery(models.Model):
    """One delivery from Keap, stored as it came (its ids) before anything is done with it.

    Written by the intake with one INSERT and nothing else; applied later, in the bulk lane
    (webapp.sync.changes). Kept a while after it is applied, to size the next fetch."""

    connection_id = models.BigIntegerField()
    event_key = models.CharField(max_length=50)
    ids = models.JSONField()  # [[keap id, Keap's timestamp or ""], ...]
    received_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["connection_id", "received_at"],
                name="delivery_pending",
                condition=models.Q(applied_at__isnull=True),
            ),
            models.Index(fields=["received_at"], name="delivery_received"),
        ]

    def __str__(self) -> str:
        return f"{self.event_key} for connection {self.connection_id} ({len(self.ids)} contacts)"
