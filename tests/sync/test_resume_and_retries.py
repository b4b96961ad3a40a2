"""Runs that die, pages that fail, and runs that are cancelled or stopped."""

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from tests.sync.conftest import drive, keap_ids, list_calls
from webapp.connections import flows as connection_flows
from webapp.connections.models import KeapConnection
from webapp.sync import flows, store, worker
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


class WorkerDied(BaseException):
    """Stands in for SIGKILL: nothing in the sync code catches it."""


@pytest.fixture
def connected(owner_client, connect, make_tenant, enqueued, sync_settings):
    tenant = make_tenant(230)
    connection = connect(owner_client, app=tenant)
    return tenant, connection, SyncRun.objects.get(pk=enqueued[-1])


def _die_on_page(monkeypatch, page: int):
    real, calls = store.store_page, []

    def store_page(**kwargs):
        calls.append(1)
        if len(calls) == page:
            raise WorkerDied
        return real(**kwargs)

    monkeypatch.setattr(store, "store_page", store_page)
    return lambda: monkeypatch.setattr(store, "store_page", real)


def test_a_run_that_died_resumes_at_its_checkpoint_with_every_contact_once(
    connected, keap, monkeypatch, sync_settings
):
    tenant, connection, run = connected
    revive = _die_on_page(monkeypatch, 3)
    with pytest.raises(WorkerDied):
        worker.work_on_run(run_id=run.pk)
    revive()
    run.refresh_from_db()
    assert run.status == "running" and run.pages == 2 and run.checkpoint["last_id"] == 100
    assert keap_ids(connection) == list(range(1, 101))  # page 3's upserts were rolled back

    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    keap.reset_stats()
    assert flows.rescue_stale_runs() == [run.pk]
    run = drive(run.pk)
    assert run.status == "succeeded", run.error
    assert keap_ids(connection) == list(range(1, 231))
    assert (run.pages, run.fetched, run.created) == (5, 230, 230)
    assert sum(list_calls(keap, tenant).values()) == 3  # pages 3, 4 and 5; never 1 and 2 again


def test_the_watchdog_leaves_live_runs_alone_and_requeues_lost_ones(connected, sync_settings):
    _, _connection, run = connected
    SyncRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert flows.rescue_stale_runs() == []
    SyncRun.objects.filter(pk=run.pk).update(
        status="queued", due_at=timezone.now() - timedelta(hours=1)
    )
    assert flows.rescue_stale_runs() == [run.pk]
    assert flows.rescue_stale_runs() == []  # not again until it is overdue once more


def test_a_malformed_page_is_retried_and_nothing_is_lost(connected, keap):
    tenant, connection, run = connected
    keap.inject("malformed", count=1, tenant=tenant, path_prefix="/crm/rest/v2/contacts")
    run = drive(run.pk)
    assert run.status == "succeeded", run.error
    assert run.errors == 1  # recorded, then the same page again
    assert keap_ids(connection) == list(range(1, 231))
    assert run.fetched == 230


def test_a_page_that_keeps_failing_fails_the_run_with_its_error(
    connected, keap, sync_settings, eager_celery
):
    tenant, connection, run = connected
    sync_settings.SYNC_PAGE_ATTEMPTS = 2
    sync_settings.SYNC_MAX_RETRIES = 1
    sync_settings.SYNC_RETRY_BASE_SECONDS = 30.0
    keap.inject("malformed", probability=1.0, tenant=tenant, path_prefix="/crm/rest/v2/contacts")
    from webapp.sync.tasks import run_sync

    with pytest.raises(Retry) as retry:  # the page failed twice: Celery retries after a backoff
        run_sync.delay(run_id=run.pk)
    assert 10 < retry.value.when <= 30
    assert SyncRun.objects.get(pk=run.pk).status == "queued"
    run_sync.delay(run_id=run.pk)  # the retry fails the same way, and that was the last one
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.errors == 4 and run.retries == 1
    assert "Gave up after 2 tries" in run.error and "KeapProtocolError" in run.error
    assert keap_ids(connection) == []


def test_a_disconnected_connection_stops_its_queued_sync(connected, owner):
    _, connection, run = connected
    connection_flows.disconnect(connection=connection, actor=owner)
    run = drive(run.pk)
    assert run.status == "cancelled" and "disconnected" in run.error


def test_a_revoked_connection_fails_its_sync_with_a_reason(connected):
    _, connection, run = connected
    KeapConnection.objects.filter(pk=connection.pk).update(status="needs_reconnect")
    run = drive(run.pk)
    assert run.status == "failed" and "reconnect" in run.error


def test_cancelling_a_queued_run_ends_it_at_once(connected):
    _, _, run = connected
    assert flows.cancel_run(run=run)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at
    assert drive(run.pk).pages == 0


def test_cancelling_a_running_run_stops_it_after_the_current_page(connected, monkeypatch):
    _, connection, run = connected
    real = store.store_page

    def store_then_cancel(**kwargs):
        result = real(**kwargs)
        flows.cancel_run(run=run)
        return result

    monkeypatch.setattr(store, "store_page", store_then_cancel)
    run = drive(run.pk)
    assert run.status == "cancelled" and run.pages == 1
    assert len(keap_ids(connection)) == 50


def test_only_one_run_is_active_per_connection(connected):
    _, connection, run = connected
    again = flows.start_sync(connection=connection, kind="reconcile")
    assert again.pk == run.pk
    assert SyncRun.objects.filter(connection=connection).count() == 1
