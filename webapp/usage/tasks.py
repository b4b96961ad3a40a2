"""Background work on usage: moving buffered records into the database, and pruning raw rows."""

import logging

from celery import shared_task

from webapp.usage import recorder, retention

log = logging.getLogger(__name__)


# Well below USAGE_CLAIM_TIMEOUT_SECONDS (300): a claim older than that is taken to be a dead
# flusher's, so a live one must never run that long.
@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def flush_usage(*, max_items: int = 200_000) -> int:
    """Beat: write buffered call records to the raw table and the rollups."""
    written = recorder.flush(max_items=max_items)
    if written:
        log.debug("usage: flushed %d call records", written)
    return written


@shared_task(ignore_result=True, time_limit=1800, soft_time_limit=1700)
def prune_usage() -> int:
    """Beat: delete raw call records older than USAGE_RAW_RETENTION_DAYS (rollups are kept)."""
    deleted = retention.prune()
    log.info("usage: pruned %d raw call records", deleted)
    return deleted
