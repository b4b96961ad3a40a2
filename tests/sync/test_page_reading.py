"""Reading a page of contacts: every record stored as Keap sent it, whichever decoder read it, and
a page fetched ahead while the previous one is stored counted like any other call."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import json_values
from tests.sync.conftest import drive, list_calls
from webapp import limiter
from webapp.connections.tokens import client_for
from webapp.keap.results import contact_from_v2
from webapp.sync import store
from webapp.sync.models import Contact
from webapp.usage import recorder as usage
from webapp.usage.models import RawCall


@given(extra=st.dictionaries(st.text(max_size=5), json_values, max_size=4))
def test_a_prepared_row_holds_the_record_and_a_fingerprint_of_exactly_that_text(extra):
    record = {**extra, "id": "7", "given_name": "Zoë"}
    contact = contact_from_v2(json.loads(json.dumps(record)))

    row = store.prepare_page(connection_id=1, records=[contact]).rows[7]

    raw, digest = row[store.INSERT_COLUMNS.index("raw")], row[store._DIGEST_AT]
    assert isinstance(raw, str)
    stored = json.loads(raw)
    # What was stored is the record (its NULs removed: PostgreSQL's jsonb refuses them).
    assert stored == json.loads(json.dumps(record).replace("\\u0000", ""))
    again = store.prepare_page(connection_id=1, records=[contact]).rows[7]
    assert again[store._DIGEST_AT] == digest


def test_a_record_orjson_cannot_write_is_stored_scrubbed_not_skipped():
    contact = contact_from_v2({"id": "8", "given_name": "lone \ud800", "n": 2**70})

    prepared = store.prepare_page(connection_id=1, records=[contact])

    assert prepared.skipped == []
    stored = json.loads(prepared.rows[8][store.INSERT_COLUMNS.index("raw")])
    assert stored["n"] == 2**70 and stored["given_name"] == "lone ?"


@pytest.mark.django_db(transaction=True)
def test_the_sync_stores_each_record_as_keap_sent_it(
    owner_client, connect, make_tenant, enqueued, sync_settings
):
    tenant = make_tenant(60)
    connection = connect(owner_client, app=tenant)
    page = client_for(connection.pk).list_contacts_v2(page_size=60, order_by="id asc")

    run = drive(enqueued[-1])

    assert run.status == "succeeded", run.error
    stored = dict(Contact.objects.filter(connection=connection).values_list("keap_id", "raw"))
    assert stored == {contact.id: contact.raw for contact in page.contacts}


@pytest.mark.django_db(transaction=True)
def test_every_page_sent_ahead_is_recorded_once_as_keap_counted_it(
    owner_client, connect, make_tenant, keap, enqueued, sync_settings
):
    tenant = make_tenant(30)
    connection = connect(owner_client, app=tenant)
    client = client_for(connection.pk)
    before = list_calls(keap, tenant).get("contacts_v2", 0)

    # Sent, then no longer wanted; begun for other arguments than the call it is handed to;
    # begun and never sent; sent and read.
    client.discard(client.start_list_contacts_v2(page_size=10, order_by="id asc").send())
    stray = client.start_list_contacts_v2(page_size=5).send()
    first = client.list_contacts_v2(page_size=10, order_by="id asc", sent=stray)
    client.discard(client.start_list_contacts_v2(page_size=10))
    ahead = client.start_list_contacts_v2(
        page_size=10, order_by="id asc", page_token=first.next_page_token
    )
    second = client.list_contacts_v2(
        page_size=10, order_by="id asc", page_token=first.next_page_token, sent=ahead.send()
    )

    assert [c.id for c in first.contacts + second.contacts] == sorted(
        {c.id for c in first.contacts + second.contacts}
    )
    assert len(second.contacts) == 10
    sent_to_keap = list_calls(keap, tenant).get("contacts_v2", 0) - before
    usage.flush()
    recorded = RawCall.objects.filter(tenant=tenant, operation="contacts.list.v2").count()
    assert sent_to_keap == recorded == 4
    # Every grant was settled, the one begun and never sent too: none holds a slot of the second.
    assert limiter.in_flight(app=client.app.client_id) == 0


@pytest.mark.django_db(transaction=True)
def test_a_sync_leaves_no_grant_in_flight(
    owner_client, connect, make_tenant, keap, enqueued, sync_settings
):
    """The grant taken a page early goes unused on the last page: it is released, not left to
    hold a slot of the limiter's second for a minute."""
    tenant = make_tenant(230)
    connection = connect(owner_client, app=tenant)

    run = drive(enqueued[-1])

    assert run.status == "succeeded", run.error
    assert Contact.objects.filter(connection=connection).count() == 230
    assert list_calls(keap, tenant)["contacts_v2"] >= 5  # pages of 50, some fetched ahead
    assert limiter.in_flight(app=connection.developer_app.client_id) == 0
