"""The first sync of a newly connected Keap app, against the sandbox over HTTP."""

import pytest

from tests.sync.conftest import drive, keap_ids
from webapp.sync.models import Contact, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_connecting_syncs_every_contact_exactly_once(
    owner_client, connect, make_tenant, keap, sync_settings, eager_celery
):
    tenant = make_tenant(230)
    connection = connect(owner_client, app=tenant)  # the task runs inline, right after commit
    run = SyncRun.objects.get(connection=connection)
    assert run.kind == "initial" and run.status == "succeeded", run.error
    assert keap_ids(connection) == list(range(1, 231))
    assert (run.fetched, run.created, run.updated, run.unchanged) == (230, 230, 0, 0)
    assert run.pages == 5 and run.total_estimate == 230
    assert run.started_at and run.finished_at and run.watermark
    sample = Contact.objects.get(connection=connection, keap_id=7)
    assert sample.raw["id"] == "7" and sample.content_hash and sample.keap_updated_at


def test_a_second_full_sync_rewrites_nothing(
    owner_client, connect, make_tenant, enqueued, sync_settings
):
    tenant = make_tenant(120)
    connection = connect(owner_client, app=tenant)
    drive(enqueued[-1])
    before = dict(Contact.objects.values_list("keap_id", "synced_at"))
    again = flows_start(connection, "reconcile")
    run = drive(again.pk)
    assert run.status == "succeeded", run.error
    assert (run.fetched, run.created, run.updated, run.unchanged) == (120, 0, 0, 120)
    assert dict(Contact.objects.values_list("keap_id", "synced_at")) == before


def flows_start(connection, kind):
    from webapp.sync import flows

    return flows.start_sync(connection=connection, kind=kind)
