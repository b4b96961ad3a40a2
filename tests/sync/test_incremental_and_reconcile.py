"""Incremental syncs fetch only what changed; a full reconcile finds what Keap deleted."""

import pytest

from tests.sync.conftest import delete_in_keap, drive, keap_ids, list_calls
from webapp.sync import flows, store
from webapp.sync.models import Contact, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced(owner_client, connect, make_tenant, enqueued, sync_settings):
    """A tenant of 230 contacts, connected and fully synced."""

    def make(contacts: int = 230):
        tenant = make_tenant(contacts)
        connection = connect(owner_client, app=tenant)
        run = drive(enqueued[-1])
        assert run.status == "succeeded", run.error
        return tenant, connection

    return make


def test_an_incremental_sync_fetches_only_changed_contacts_in_few_calls(
    synced, keap, sync_settings
):
    sync_settings.SYNC_PAGE_SIZE = 1000
    tenant, connection = synced(2100)
    before = dict(Contact.objects.values_list("keap_id", "synced_at"))
    touched = set(keap.touch_contacts(tenant, count=1000, seed=7)["ids"])
    keap.reset_stats()

    run = drive(flows.start_sync(connection=connection, kind="incremental").pk)

    assert run.status == "succeeded", run.error
    assert run.kind == "incremental" and run.since < run.watermark
    assert sum(list_calls(keap, tenant).values()) <= 3
    assert (run.fetched, run.updated, run.created) == (1000, 1000, 0)
    after = dict(Contact.objects.values_list("keap_id", "synced_at"))
    assert {k for k in after if after[k] != before[k]} == touched
    assert len(after) == 2100


def test_an_incremental_sync_with_nothing_changed_rewrites_nothing(synced, keap):
    _tenant, connection = synced(120)
    run = drive(flows.start_sync(connection=connection, kind="incremental").pk)
    assert run.status == "succeeded" and (run.fetched, run.updated, run.created) == (0, 0, 0)


def test_sync_now_without_a_finished_sync_is_a_full_one(
    owner_client, connect, make_tenant, enqueued
):
    connection = connect(owner_client, app=make_tenant(10))
    SyncRun.objects.all().update(status="cancelled")
    run = flows.start_sync(connection=connection, kind="incremental")
    assert run.kind == "initial"


def test_a_reconcile_deletes_contacts_deleted_in_keap(synced, keap):
    tenant, connection = synced(230)
    delete_in_keap(keap, tenant, [1, 77, 120, 230])
    incremental = drive(flows.start_sync(connection=connection, kind="incremental").pk)
    assert incremental.deleted == 0 and len(keap_ids(connection)) == 230  # it cannot tell

    run = drive(flows.start_sync(connection=connection, kind="reconcile").pk)
    assert run.status == "succeeded", run.error
    assert run.deleted == 4 and run.unchanged == 226
    assert keap_ids(connection) == [i for i in range(1, 231) if i not in (1, 77, 120, 230)]


def test_a_reconcile_that_does_not_finish_deletes_nothing(synced, keap, monkeypatch):
    tenant, connection = synced(230)
    delete_in_keap(keap, tenant, [3, 4])
    run = flows.start_sync(connection=connection, kind="reconcile")
    real, calls = store.store_page, []

    def store_then_cancel(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            flows.cancel_run(run=run)
        return real(**kwargs)

    monkeypatch.setattr(store, "store_page", store_then_cancel)
    run = drive(run.pk)
    assert run.status == "cancelled" and run.deleted == 0
    assert 3 in keap_ids(connection) and 4 in keap_ids(connection)


def test_contacts_deleted_during_a_sync_are_neither_lost_nor_doubled(
    owner_client, connect, make_tenant, enqueued, keap, monkeypatch, sync_settings
):
    sync_settings.SYNC_PREFETCH = False  # so the deletion lands before the next page is asked
    tenant = make_tenant(230)
    connection = connect(owner_client, app=tenant)
    real, calls = store.store_page, []

    def store_then_delete(**kwargs):
        result = real(**kwargs)
        calls.append(1)
        if len(calls) == 1:  # after page 1: one contact already copied, one still to come
            delete_in_keap(keap, tenant, [10, 120])
        return result

    monkeypatch.setattr(store, "store_page", store_then_delete)
    run = drive(enqueued[-1])
    assert run.status == "succeeded", run.error
    assert keap_ids(connection) == [i for i in range(1, 231) if i != 120]
    assert run.fetched == 229 and run.pages == 5

    monkeypatch.setattr(store, "store_page", real)
    reconcile = drive(flows.start_sync(connection=connection, kind="reconcile").pk)
    assert reconcile.deleted == 1 and 10 not in keap_ids(connection)
