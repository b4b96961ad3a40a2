"""The life of a sync run: started, queued, cancelled, scheduled, rescued.

A run is a SyncRun row; a Celery task (webapp.sync.tasks.run_sync) works it
(webapp.sync.worker). At most one run per connection is active (a unique constraint), so starting
one while another waits or works gives back the one already there. Every run's task is enqueued
after the transaction that made the run visible commits. A broker that is down then only delays
it: the watchdog here finds runs that are queued long past due, or whose worker stopped beating,
and enqueues them again; they resume at their checkpoint.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.connections.models import KeapConnection
from webapp.sync import tasks
from webapp.sync.models import SyncRun

log = logging.getLogger(__name__)

Kind = SyncRun.Kind
Status = SyncRun.Status


def start_initial_sync(connection: KeapConnection) -> SyncRun | None:
    """Queue the first full sync of a newly connected (or reconnected) Keap app."""
    return start_sync(connection=connection, kind=Kind.INITIAL)


def start_sync(
    *, connection: KeapConnection, kind: str = Kind.INCREMENTAL, countdown: float = 0
) -> SyncRun | None:
    """Queue a run unless one is already active; returns the active run (new or not).

    An incremental run with nothing to be incremental from (no successful run yet) is a full one.
    The task is enqueued after the surrounding transaction commits.
    """
    if connection.status != KeapConnection.Status.ACTIVE:
        return None
    if kind == Kind.INCREMENTAL and SyncRun.objects.last_watermark(connection.pk) is None:
        kind = Kind.INITIAL
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                connection=connection,
                kind=kind,
                due_at=timezone.now() + timedelta(seconds=countdown),
            )
    except IntegrityError:  # one_active_sync_per_connection: someone started one first
        return SyncRun.objects.active().filter(connection=connection).first()
    enqueue(run.pk, countdown=countdown)
    return run


def enqueue(run_id: int, *, countdown: float = 0) -> None:
    tasks.run_sync.apply_async_on_commit(kwargs={"run_id": run_id}, countdown=countdown or None)


def cancel_run(*, run: SyncRun) -> bool:
    """Cancel a queued run at once, or ask a running one to stop after its current page."""
    now = timezone.now()
    if SyncRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=now, error="Cancelled."
    ):
        return True
    return bool(
        SyncRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(cancel_requested=True)
    )


def rescue_stale_runs() -> list[int]:
    """Watchdog: give runs whose worker died (stale heartbeat) or whose task message was lost
    (queued, long overdue) to a new task, which resumes at the checkpoint."""
    now = timezone.now()
    stale = now - timedelta(seconds=float(settings.SYNC_STALE_SECONDS))
    lost = now - timedelta(seconds=float(settings.SYNC_LOST_SECONDS))
    rescued = []
    for run in SyncRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale):
        with transaction.atomic():
            taken = SyncRun.objects.filter(
                pk=run.pk, status=Status.RUNNING, lease=run.lease, heartbeat_at__lt=stale
            ).update(status=Status.QUEUED, lease="", due_at=now)
            if taken:
                log.warning("Sync run %s: worker gone since %s; resuming", run.pk, run.heartbeat_at)
                enqueue(run.pk)
                rescued.append(run.pk)
    for run_id in SyncRun.objects.filter(status=Status.QUEUED, due_at__lt=lost).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            if SyncRun.objects.filter(pk=run_id, status=Status.QUEUED, due_at__lt=lost).update(
                due_at=now
            ):
                log.warning("Sync run %s: queued but never picked up; enqueueing again", run_id)
                enqueue(run_id)
                rescued.append(run_id)
    return rescued
