"""Old sync runs are forgotten, but never the ones the plan and the next sync read."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import ConnectionFactory
from webapp.sync import retention
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db
Kind, Status = SyncRun.Kind, SyncRun.Status


def _run(connection, kind, status, *, days_ago: float) -> SyncRun:
    finished = timezone.now() - timedelta(days=days_ago)
    return SyncRun.objects.create(
        connection=connection, kind=kind, status=status, finished_at=finished
    )


def test_runs_past_the_retention_go_except_each_connections_latest_success_of_each_kind(settings):
    settings.SYNC_RUN_RETENTION_DAYS = 30
    first, second = ConnectionFactory(), ConnectionFactory()
    runs = [  # (connection, kind, status, days ago, kept)
        (first, Kind.INITIAL, Status.SUCCEEDED, 200, True),  # its only initial sync
        (first, Kind.RECONCILE, Status.SUCCEEDED, 90, False),  # an older reconcile
        (first, Kind.INCREMENTAL, Status.FAILED, 60, False),  # a failure is never the latest
        (first, Kind.RECONCILE, Status.SUCCEEDED, 45, True),  # its latest reconcile
        (first, Kind.CHANGES, Status.SUCCEEDED, 31, False),
        (first, Kind.CHANGES, Status.FAILED, 29, True),  # within the retention, even failed
        (first, Kind.CHANGES, Status.SUCCEEDED, 2, True),
        (second, Kind.CHANGES, Status.SUCCEEDED, 50, False),
        (second, Kind.CHANGES, Status.SUCCEEDED, 40, True),  # the other connection's latest
        (second, Kind.CHANGES, Status.CANCELLED, 35, False),
    ]
    # A connection's runs follow one another, so they are created in the order they finished.
    made = [(_run(c, kind, status, days_ago=days), kept) for c, kind, status, days, kept in runs]

    assert retention.prune(batch_size=2) == sum(not kept for _, kept in made)

    assert set(SyncRun.objects.values_list("pk", flat=True)) == {
        run.pk for run, kept in made if kept
    }
    assert retention.prune() == 0


def test_running_and_queued_runs_are_never_pruned(settings):
    settings.SYNC_RUN_RETENTION_DAYS = 1
    connection = ConnectionFactory()
    running = SyncRun.objects.create(
        connection=connection, kind=Kind.INITIAL, status=Status.RUNNING
    )
    SyncRun.objects.filter(pk=running.pk).update(created_at=timezone.now() - timedelta(days=9))

    assert retention.prune() == 0
    assert SyncRun.objects.filter(pk=running.pk).exists()
