"""Background work on contact sync: working runs, rescuing them, forgetting old ones.

flows enqueues run_sync and these tasks call flows back (rescue): the one import cycle
left between the two, harmless because neither uses the other while it is being imported."""

import logging

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from webapp.celery import Task
from webapp.sync import flows, retention, worker
from webapp.sync.models import SyncRun

log = logging.getLogger(__name__)

# A slice of work ends at a checkpoint after SYNC_SLICE_SECONDS (default 600) and queues the next
# slice, so no task comes near these limits in normal work; the soft limit is the backstop.
SOFT_TIME_LIMIT = 12 * 60
TIME_LIMIT = 13 * 60
# Database outages (PostgreSQL restarting) before the run is left to the watchdog.
DATABASE_RETRIES = 10


@shared_task(
    base=Task,
    bind=True,
    ignore_result=True,
    # Safe to run twice: the run is claimed with a conditional UPDATE and resumes at the
    # checkpoint committed with its last page, so a redelivered message repeats nothing.
    acks_late=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
    max_retries=DATABASE_RETRIES,
)
def run_sync(self: Task, *, run_id: int) -> str:
    """Work one sync run from its checkpoint; queue its next slice or its retry."""
    try:
        outcome = worker.work_on_run(run_id=run_id)
    except DatabaseError as exc:
        # Our own database is away: the run is left as it was (queued, or running with a
        # heartbeat going stale, which the watchdog rescues). Try again shortly.
        raise self.retry(countdown=worker.retry_countdown(self.request.retries), exc=exc) from exc
    if outcome is worker.Outcome.CONTINUE:
        run_sync.apply_async(kwargs={"run_id": run_id})
    elif outcome is worker.Outcome.RETRY:
        due_at = SyncRun.objects.filter(pk=run_id).values_list("due_at", flat=True).first()
        countdown = max(0.0, (due_at - timezone.now()).total_seconds()) if due_at else 0.0
        # The run itself counts its retries (they survive the watchdog's re-enqueues).
        raise self.retry(countdown=countdown, max_retries=None)
    return str(outcome.value)


@shared_task(ignore_result=True, time_limit=1800, soft_time_limit=1700)
def prune_runs() -> int:
    """Beat (daily): forget sync runs finished longer ago than SYNC_RUN_RETENTION_DAYS."""
    deleted = retention.prune()
    log.info("Pruned %d finished sync runs", deleted)
    return deleted


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def rescue_stale_runs() -> int:
    """Beat: re-enqueue sync runs whose worker died or whose message was lost."""
    rescued = flows.rescue_stale_runs()
    if rescued:
        log.warning("Rescued sync runs %s", rescued)
    return len(rescued)
