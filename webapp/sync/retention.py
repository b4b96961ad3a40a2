"""How long finished sync runs are kept: SYNC_RUN_RETENTION_DAYS (30 by default).

A busy connection whose changes Keap pushes makes a `changes` run for every burst, so the table
would grow without end. Each connection keeps its latest succeeded run of every kind whatever its
age: the plan reads the copy's size and when it was last reconciled and polled from them, and the
next incremental sync its watermark. A connection has one active run at a time, so its runs
finish in the order they were created and the highest id of a kind is its latest.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from webapp.sync.models import SyncRun


def prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete runs finished before the retention, a batch at a time; return how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=int(settings.SYNC_RUN_RETENTION_DAYS))
    latest = (
        SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED)
        .values("connection_id", "kind")
        .annotate(last=Max("pk"))
        .values("last")
    )
    old = SyncRun.objects.finished().filter(finished_at__lt=cutoff).exclude(pk__in=latest)
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += SyncRun.objects.filter(pk__in=ids).delete()[0]
