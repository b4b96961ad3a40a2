"""The worker harness itself: a real worker process runs a real task on the test database."""

import gc
import time

import pytest

from webapp.connections.models import ConnectionEvent
from webapp.connections.tasks import keep_alive


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_queued_tasks(celery_worker, connection):
    from webapp.connections.models import KeapConnection

    KeapConnection.objects.filter(pk=connection.pk).update(refresh_token_issued_at=None)
    keep_alive.delay()
    deadline = time.monotonic() + 30
    while "Keep-alive queued" not in celery_worker.log_tail() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Keep-alive queued 0 refreshes" in celery_worker.log_tail()
    assert not ConnectionEvent.objects.exists()


def test_a_worker_process_leaves_its_startup_objects_out_of_later_collections():
    from celery.signals import worker_process_init

    from webapp.celery import freeze_startup_objects

    assert freeze_startup_objects in [ref() for _, ref in worker_process_init.receivers]
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 10_000  # Django, the app and their modules
    finally:
        gc.unfreeze()
