"""REST hooks: subscriptions, queued changes, delivery batches and faults, and played web-app edits."""

from django.db import models

from webapp.sandbox.models.accounts import DeveloperApp, Tenant


class HookSubscription(models.Model):
    """A REST hook subscription (docs/keap/API.md §2.5): one event key, one URL, one status.

    It belongs to its tenant and to the caller that created it (`principal`, as the quota
    meters callers: "app:<id>" for a developer app's tokens, "key:<id>" for a PAT/SAK), so
    another developer app connected to the same tenant neither sees nor changes it.
    """

    UNVERIFIED = "Unverified"
    VERIFIED = "Verified"
    INACTIVE = "Inactive"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="hooks")
    principal = models.CharField(max_length=40)
    developer_app = models.ForeignKey(
        DeveloperApp, null=True, blank=True, on_delete=models.SET_NULL
    )
    event_key = models.CharField(max_length=60)
    hook_url = models.TextField()
    status = models.CharField(max_length=12, default=UNVERIFIED)
    # Only the digest of the latest X-Hook-Secret sent: /delayedVerify compares against it.
    secret_digest = models.CharField(max_length=64, blank=True)
    # Scheme and host the creator reached the sandbox on: deliveries' apiUrl points there.
    api_base = models.CharField(max_length=200)
    # The latest confirmation round: when, what the receiver answered, whether it echoed.
    confirmation = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    inactive_at = models.DateTimeField(null=True, blank=True)
    inactive_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "event_key", "status"], name="hook_matching"),
        ]

    def __str__(self) -> str:
        return f"hook {self.pk} {self.event_key} ({self.status})"

    @property
    def key(self) -> str:
        return str(self.pk)


class HookEvent(models.Model):
    """A change waiting for its subscription's next delivery (the 30-60 s before the first try)."""

    subscription = models.ForeignKey(HookSubscription, on_delete=models.CASCADE)
    object_id = models.BigIntegerField()
    changed_ms = models.BigIntegerField()
    # Sandbox epoch seconds at which the change may go out.
    due_ts = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["due_ts"], name="hookevent_due")]

    def __str__(self) -> str:
        return f"object {self.object_id} for hook {self.subscription_id}"


class HookDelivery(models.Model):
    """One batch of object keys for one subscription, with every attempt to send it.

    `state` moves pending -> sending (claimed by exactly one sender) -> delivered, or back to
    pending for a retry, or to failed (fourth failure, or a 410). A batch never sent ends as
    dropped (an injected fault) or discarded (its subscription stopped being Verified).
    """

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DROPPED = "dropped"
    DISCARDED = "discarded"

    subscription = models.ForeignKey(HookSubscription, on_delete=models.CASCADE)
    tenant = models.CharField(max_length=40)
    event_key = models.CharField(max_length=60)
    object_keys = models.JSONField(default=list)
    first_change_ms = models.BigIntegerField()
    # Sandbox epoch seconds: when the batch was formed, when it may next be tried, when done.
    formed_ts = models.FloatField()
    next_ts = models.FloatField()
    finished_ts = models.FloatField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    state = models.CharField(max_length=10, default=PENDING)
    # The sender holding it, and until when in real time (a dead worker's claim lapses).
    claim = models.CharField(max_length=32, blank=True)
    lease_until = models.FloatField(default=0)
    delayed = models.BooleanField(default=False)
    log = models.JSONField(default=list)

    class Meta:
        indexes = [
            models.Index(fields=["state", "next_ts"], name="hookdelivery_due"),
            models.Index(fields=["subscription", "state"], name="hookdelivery_sub"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of hook {self.subscription_id} ({self.state})"


class HookFault(models.Model):
    """An injected delivery misbehaviour: drop, delay, duplicate, reorder, or an answer the
    sandbox pretends its receiver gave (error status or timeout). Like `Fault`: one tenant or
    all, for the next `remaining` deliveries or with a probability."""

    KINDS = ["drop", "delay", "duplicate", "reorder", "error", "timeout"]

    kind = models.CharField(max_length=10)
    tenant = models.CharField(max_length=40, blank=True)
    params = models.JSONField(default=dict)
    probability = models.FloatField(null=True, blank=True)
    remaining = models.IntegerField(null=True, blank=True)
    seen = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.kind} hook fault #{self.pk}"


class ContactPlayer(models.Model):
    """Edits made in Keap's own web app, played at a steady rate for one tenant.

    Any worker's deliverer loop advances it: `played` is claimed with a conditional UPDATE, so
    two workers never play the same changes.
    """

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    # The mix of changes, as weights.
    adds = models.IntegerField(default=0)
    edits = models.IntegerField(default=0)
    deletes = models.IntegerField(default=0)
    rate = models.FloatField()
    started_ts = models.FloatField()
    ends_ts = models.FloatField(null=True, blank=True)
    played = models.IntegerField(default=0)
    added = models.IntegerField(default=0)
    edited = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    state = models.CharField(max_length=10, default=RUNNING)

    def __str__(self) -> str:
        return f"player {self.pk} for tenant {self.tenant_id} ({self.state})"
