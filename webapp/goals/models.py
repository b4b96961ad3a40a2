"""Campaign goal completions, and the API keys customers' systems request them with."""

import hashlib
import hmac
import secrets
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from webapp.keap.models import DeveloperApp

# Keap's integration and call names are short words set in Campaign Builder; they go into a URL
# path, so only letters, digits and a few separators are accepted.
NAME_MAX_LENGTH = 100
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
name_validator = RegexValidator(
    NAME_PATTERN, "Use letters, digits, '_', '-' or '.', starting with a letter or digit."
)
IDEMPOTENCY_KEY_MAX_LENGTH = 100
idempotency_key_validator = RegexValidator(
    r"^[\x21-\x7e]+$", "Use printable ASCII characters without spaces."
)
# Keap's contact ids are int64.
CONTACT_ID_MAX = 2**63 - 1


class GoalCompletionQuerySet(models.QuerySet["GoalCompletion"]):
    def for_connection(self, connection: Any) -> "GoalCompletionQuerySet":
        return self.filter(connection=connection)

    def owned_by(self, user: Any) -> "GoalCompletionQuerySet":
        return self.filter(connection__owner=user)

    def stuck_queued(self, cutoff: Any) -> "GoalCompletionQuerySet":
        """Queued, and due since before `cutoff`: its message was probably lost."""
        return self.filter(status=GoalCompletion.Status.QUEUED, next_attempt_at__lt=cutoff)

    def stuck_sending(self, cutoff: Any) -> "GoalCompletionQuerySet":
        """Claimed before `cutoff` and still sending: the worker that claimed it died."""
        return self.filter(status=GoalCompletion.Status.SENDING, claimed_at__lt=cutoff)


class GoalCompletion(models.Model):
    """One request to achieve a Keap API goal for one contact, and what came of it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        UNCERTAIN = "uncertain", "Uncertain"

    connection = models.ForeignKey(
        "connections.KeapConnection", on_delete=models.CASCADE, related_name="goal_completions"
    )
    contact_id = models.PositiveBigIntegerField(
        "Keap contact id", validators=[MinValueValidator(1), MaxValueValidator(CONTACT_ID_MAX)]
    )
    integration = models.CharField(
        max_length=NAME_MAX_LENGTH,
        validators=[name_validator],
        help_text="The API goal's integration name (defaults to the Keap app name).",
    )
    call_name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[name_validator])
    api = models.CharField(
        "API used",
        max_length=10,
        choices=DeveloperApp.GoalApi,
        default=DeveloperApp.GoalApi.REST_V1,
    )
    idempotency_key = models.CharField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH, validators=[idempotency_key_validator]
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_with_key = models.ForeignKey(
        "goals.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Keap's answer: [{"success", "message", "campaign_id", "goal_id"}, ...]; None until it answers.
    results = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # When a queued completion's message is due (later than now while a retry waits out its backoff).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = GoalCompletionQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=("connection", "idempotency_key"), name="one_goal_completion_per_key"
            )
        ]
        indexes = [models.Index(fields=("status", "next_attempt_at"))]

    def __str__(self) -> str:
        return f"{self.integration}/{self.call_name} for contact {self.contact_id}"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.SENDING)

    @property
    def can_send_again(self) -> bool:
        return self.status in (self.Status.UNCERTAIN, self.Status.FAILED)

    @property
    def fired(self) -> list[dict[str, Any]]:
        """The goals Keap says fired."""
        return [r for r in self.results or [] if r.get("success")]

    @property
    def answer(self) -> str:
        """Keap's answer in a line: what fired, that nothing matched, or why it did not happen."""
        if self.status == self.Status.SUCCEEDED:
            if not self.results:
                return "No goal matched: no published API goal has this integration and call name."
            parts = [
                f"campaign {r.get('campaign_id')} goal {r.get('goal_id')}"
                + ("" if r.get("success") else f" not achieved ({r.get('message', '')})")
                for r in self.results
            ]
            return "Fired: " + ", ".join(parts)
        return self.error

    @property
    def requester(self) -> str:
        if self.requested_with_key_id:
            return f"API key {self.requested_with_key}"
        return str(self.requested_by or "—")

    def as_json(self) -> dict[str, Any]:
        """The completion as the JSON API shows it."""
        return {
            "id": self.pk,
            "connection_id": self.connection_id,
            "contact_id": self.contact_id,
            "integration": self.integration,
            "call_name": self.call_name,
            "api": self.api,
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "attempts": self.attempts,
            "results": self.results,
            "answer": self.answer,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def owned_by(self, user: Any) -> "ApiKeyQuerySet":
        return self.filter(owner=user)

    def usable(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


KEY_PREFIX = "onr_"


def _digest(secret: str) -> str:
    # The secret is 256 random bits, so a plain SHA-256 is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """A customer's key for the goals API: `onr_<prefix>_<secret>`, stored as a SHA-256 digest.

    The prefix is shown and indexed (fast lookup); the whole key is shown once, when created.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="goal_api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-pk")
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.prefix}…)"

    @property
    def shown_prefix(self) -> str:
        return f"{KEY_PREFIX}{self.prefix}"

    @classmethod
    def issue(cls, *, owner: Any, name: str) -> tuple["ApiKey", str]:
        """Create a key; returns it and the full key, which is never available again."""
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        full = f"{KEY_PREFIX}{prefix}_{secret}"
        key = cls.objects.create(owner=owner, name=name, prefix=prefix, key_digest=_digest(full))
        return key, full

    @classmethod
    def authenticate(cls, presented: str) -> "ApiKey | None":
        """The usable key matching `presented`, or None. Constant-time digest comparison."""
        if not presented.startswith(KEY_PREFIX) or len(presented) > 200:
            return None
        prefix, _, secret = presented[len(KEY_PREFIX) :].partition("_")
        if not prefix or not secret:
            return None
        key = cls.objects.usable().filter(prefix=prefix).select_related("owner").first()
        if key is None or not hmac.compare_digest(key.key_digest, _digest(presented)):
            return None
        if not key.owner.is_active:
            return None
        return key
