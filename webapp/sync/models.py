"""The local copy of each connection's Keap contacts, and the sync runs that keep it."""

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from webapp.connections.models import KeapConnection


class ContactQuerySet(models.QuerySet["Contact"]):
    def for_connection(self, connection: KeapConnection) -> "ContactQuerySet":
        return self.filter(connection=connection)

    def search(self, text: str) -> "ContactQuerySet":
        """Every word must appear, in any case, in a name or the primary email."""
        rows = self
        for word in text.split()[:5]:
            rows = rows.filter(search_text__contains=word.casefold())
        return rows


class WrittenJSONField(models.JSONField):
    """JSON that only Onramp writes: without the CHECK (JSON_VALID(...)) Django adds on SQLite.

    Every value comes through the ORM or the sync's upsert, whose JSON is msgspec-read Keap text
    or encoder output, never hand-made; re-parsing four JSON values for each stored contact cost
    SQLite a quarter of a page's upsert. (PostgreSQL's jsonb checks what it stores either way.)
    """

    def db_check(self, connection: Any) -> None:
        return None


class Contact(models.Model):
    """One Keap contact as last synced, unique per connection and Keap id."""

    # No index of its own: the unique (connection, keap_id) constraint's index serves every
    # lookup by connection, and each index a sync must keep costs it on every page.
    connection = models.ForeignKey(
        KeapConnection, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    keap_id = models.BigIntegerField()
    given_name = models.CharField(max_length=255, blank=True)
    family_name = models.CharField(max_length=255, blank=True)
    email = models.CharField("primary email", max_length=320, blank=True)
    email_addresses = WrittenJSONField(default=list, blank=True)
    phone_numbers = WrittenJSONField(default=list, blank=True)
    company = models.CharField(max_length=255, blank=True)
    tag_ids = WrittenJSONField(default=list, blank=True)
    keap_updated_at = models.DateTimeField(null=True, blank=True)
    raw = WrittenJSONField(default=dict, blank=True)
    # A digest of the raw record as Keap sent it: a sync compares it first and leaves the row
    # alone when it matches, so an unchanged contact is never rewritten.
    content_hash = models.CharField(max_length=32, blank=True, default="")
    # Names and primary email, case-folded when stored: case-insensitive search that works for
    # "ZOË" on SQLite too (its LIKE folds ASCII only) and the same on PostgreSQL.
    search_text = models.TextField(blank=True, default="", editable=False)
    synced_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ("family_name", "given_name", "keap_id")
        constraints = [
            models.UniqueConstraint(
                fields=("connection", "keap_id"), name="one_copy_per_keap_contact"
            )
        ]
        # The contacts table lists a connection's contacts by name; search matches words
        # anywhere (search_text), which no index serves.
        indexes = [
            models.Index(
                fields=("connection", "family_name", "given_name", "keap_id"),
                name="contact_by_name",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.given_name} {self.family_name}".strip()
        return name or self.email or f"Keap contact {self.keap_id}"


ACTIVE_STATUSES = ("queued", "running")


class SyncRunQuerySet(models.QuerySet["SyncRun"]):
    def for_connection(self, connection: KeapConnection) -> "SyncRunQuerySet":
        return self.filter(connection=connection)

    def active(self) -> "SyncRunQuerySet":
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self) -> "SyncRunQuerySet":
        return self.exclude(status__in=ACTIVE_STATUSES)

    def last_watermark(self, connection_id: int) -> datetime | None:
        """Where the next incremental run starts: the newest successful run's watermark."""
        return (
            self.filter(
                connection_id=connection_id,
                status=SyncRun.Status.SUCCEEDED,
                watermark__isnull=False,
            )
            .order_by("-finished_at", "-pk")
            .values_list("watermark", flat=True)
            .first()
        )


class SyncRun(models.Model):
    """One pass over a connection's Keap contacts: what it did, where it stands, how it ended.

    A run is worked by one Celery task at a time, which holds it by `lease` (claimed with a
    conditional UPDATE) and proves it is alive through `heartbeat_at`. Every page's upserts and the
    checkpoint after it commit in one transaction, so a run that dies resumes at its checkpoint.
    """

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial"
        INCREMENTAL = "incremental", "Incremental"
        RECONCILE = "reconcile", "Full reconcile"
        CHANGES = "changes", "Changes from Keap"  # what REST hooks said changed

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    connection = models.ForeignKey(
        KeapConnection, on_delete=models.CASCADE, related_name="sync_runs"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)

    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)  # calls to Keap it has made (retries too)
    # A few {keap_id, reason} of the records that were skipped (capped; `skipped` has the total).
    skipped_reasons = models.JSONField(default=list, blank=True)

    # Where to go on: {"query": {...}, "page_token": "...", "last_id": n, "done": bool}.
    checkpoint = models.JSONField(default=dict, blank=True)
    # Local contacts found missing in Keap on the way; deleted only once the run completes.
    missing_ids = models.JSONField(default=list, blank=True)
    # Incremental: the Keap update time this run asked from (watermark minus overlap).
    since = models.DateTimeField(null=True, blank=True)
    # What the next incremental run starts from, once this one has succeeded.
    watermark = models.DateTimeField(null=True, blank=True)
    total_estimate = models.PositiveIntegerField(null=True, blank=True)

    lease = models.CharField(max_length=32, blank=True, default="")
    # Tries in a row that ended in a failed page (reset by every stored page); capped by
    # SYNC_MAX_RETRIES, after which the run fails with its error.
    retries = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When a queued run is due to be picked up (a retry's countdown); the watchdog waits for it.
    due_at = models.DateTimeField(default=timezone.now)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            # At most one queued or running run per connection: starting a second one fails
            # here, whoever tries, however many processes race.
            models.UniqueConstraint(
                fields=("connection",),
                condition=Q(status__in=ACTIVE_STATUSES),
                name="one_active_sync_per_connection",
            )
        ]
        indexes = [
            models.Index(fields=("status", "heartbeat_at"), name="syncrun_liveness"),
            # The plan's per-connection reads: its latest succeeded runs (webapp.schedule.today).
            models.Index(fields=("connection", "status", "finished_at"), name="syncrun_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync of {self.connection_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent(self) -> int | None:
        """Progress for the bar, when Keap told us how many there are."""
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.total_estimate:
            return None
        return min(99, int(100 * self.fetched / self.total_estimate))

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted
