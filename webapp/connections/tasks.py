"""Background work on connections: keeping idle tokens alive."""

import logging
import zlib

from celery import shared_task

from webapp.celery import Task
from webapp.connections import tokens
from webapp.connections.models import KeapConnection
from webapp.keap.errors import KeapUnavailable

log = logging.getLogger(__name__)

# Keep-alive refreshes are spread over this many seconds, so a thousand connections made on the
# same day do not all hit Keap's token endpoint in the same minute. Below the broker's visibility
# timeout (an hour), which every countdown must stay under.
KEEPALIVE_SPREAD_SECONDS = 45 * 60


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def keep_alive() -> int:
    """Beat: queue a refresh for every active connection idle long enough to risk expiry.

    Only active ones: a connection paused by staff is left alone (its refresh token can age out
    if the pause outlasts it, which resuming then shows as "needs reconnect").
    """
    from django.utils import timezone

    cutoff = timezone.now() - tokens.KEEPALIVE_AGE
    ids = list(KeapConnection.objects.idle_since(cutoff).values_list("pk", flat=True))
    for pk in ids:
        # A stable spread per connection: the same one lands at the same offset every hour.
        countdown = zlib.crc32(str(pk).encode()) % KEEPALIVE_SPREAD_SECONDS
        refresh_idle_connection.apply_async(kwargs={"connection_id": pk}, countdown=countdown)
    log.info("Keep-alive queued %d refreshes", len(ids))
    return len(ids)


@shared_task(
    base=Task,
    bind=True,
    ignore_result=True,
    acks_late=True,  # safe: refresh_if_idle re-checks under the row lock, so a re-run is a no-op
    autoretry_for=(KeapUnavailable,),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=6,
    time_limit=120,
    soft_time_limit=100,
)
def refresh_idle_connection(self: Task, *, connection_id: int) -> bool:
    """Refresh one idle connection's tokens, unless someone already did."""
    try:
        return tokens.refresh_if_idle(connection_id)
    except (tokens.ConnectionNotActive, KeapConnection.DoesNotExist):
        return False
