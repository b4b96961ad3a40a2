"""Background work on REST hooks: subscribing connections, checking them, pruning old deliveries.

In the bulk lane: nobody waits for these. The rules are webapp.hooks.subscriptions'.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from webapp.celery import Task
from webapp.connections.tokens import ConnectionNotActive
from webapp.hooks import subscriptions
from webapp.hooks.models import HookDelivery
from webapp.keap.errors import KeapLimiterUnavailable, KeapThrottled, KeapUnavailable

log = logging.getLogger(__name__)

# Keap, or the limiter, away for a while: try again later, the subscriptions left as they were.
RETRY_ON = (KeapUnavailable, KeapThrottled, KeapLimiterUnavailable)


@shared_task(
    base=Task,
    bind=True,
    ignore_result=True,
    time_limit=180,
    soft_time_limit=150,
    autoretry_for=RETRY_ON,
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=5,
)
def subscribe_hooks(self: Task, *, connection_id: int) -> str:
    """Subscribe a connection to Keap's contact events (on connect and reconnect)."""
    try:
        return str(subscriptions.subscribe(connection_id=connection_id).status)
    except ConnectionNotActive:
        return "not active"


@shared_task(
    base=Task,
    bind=True,
    ignore_result=True,
    time_limit=180,
    soft_time_limit=150,
    autoretry_for=RETRY_ON,
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=5,
)
def check_hooks(self: Task, *, connection_id: int) -> str:
    """Look at a connection's subscriptions at Keap, and verify or remake them as needed."""
    try:
        return str(subscriptions.check(connection_id=connection_id).status)
    except ConnectionNotActive:
        return "not active"


@shared_task(ignore_result=True, time_limit=600, soft_time_limit=540)
def prune_deliveries() -> int:
    """Beat: forget deliveries applied longer ago than HOOKS_DELIVERY_RETENTION_DAYS."""
    cutoff = timezone.now() - timedelta(days=settings.HOOKS_DELIVERY_RETENTION_DAYS)
    deleted = HookDelivery.objects.filter(applied_at__lt=cutoff).delete()[0]
    if deleted:
        log.info("Pruned %d applied hook deliveries", deleted)
    return deleted
