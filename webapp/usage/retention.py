"""How long raw call records live: USAGE_RAW_RETENTION_DAYS (14 by default). Rollups live forever."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from webapp.usage.models import FlushedBatch, RawCall

# Ids of already-written Redis batches are only needed while a crashed flush may still be recovered.
FLUSHED_BATCH_RETENTION = timedelta(days=1)


def prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete raw records older than the retention, a batch at a time; return how many went.

    Small batches keep each DELETE short, so flushers writing new rows are never held up for long.
    """
    now = now or timezone.now()
    days = int(settings.USAGE_RAW_RETENTION_DAYS)
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(RawCall.objects.older_than(cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        deleted += RawCall.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch_size:
            break
    FlushedBatch.objects.filter(flushed_at__lt=now - FLUSHED_BATCH_RETENTION).delete()
    return deleted
