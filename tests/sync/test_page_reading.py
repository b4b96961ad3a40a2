"""Reading a page of contacts keeps each record as Keap sent it, and the sync stores that text."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.sync.conftest import drive
from webapp.connections.tokens import client_for
from webapp.keap.results import split_json_list
from webapp.sync.models import Contact

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
_items = st.lists(st.dictionaries(st.text(max_size=5), _json, max_size=4), max_size=4)


@given(
    before=st.dictionaries(st.text(max_size=5), _json, max_size=2),
    items=_items,
    indent=st.sampled_from([None, 0, 2]),
    ensure_ascii=st.booleans(),
)
def test_a_split_page_decodes_as_json_does_and_keeps_each_items_text(
    before, items, indent, ensure_ascii
):
    body = {**before, "contacts": items, "next_page_token": "t"}
    text = json.dumps(body, indent=indent, ensure_ascii=ensure_ascii)

    decoded, split = split_json_list(text, "contacts")

    assert decoded == json.loads(text)
    assert [item for item, _ in split] == items
    assert [json.loads(item_text) for _, item_text in split] == items


@pytest.mark.parametrize(
    "text",
    ["", "[]", '"contacts"', '{"contacts": [1, 2]', '{"contacts": [1 2]}', '{"a": 1} x', "{,}"],
)
def test_anything_but_one_json_object_is_left_to_the_ordinary_decoder(text):
    assert split_json_list(text, "contacts") is None


def test_a_key_that_is_not_a_list_splits_into_no_items():
    assert split_json_list('{"contacts": {"id": 1}}', "contacts") == ({"contacts": {"id": 1}}, [])


@pytest.mark.django_db(transaction=True)
def test_the_sync_stores_each_record_as_keap_sent_it(
    owner_client, connect, make_tenant, enqueued, sync_settings
):
    tenant = make_tenant(60)
    connection = connect(owner_client, app=tenant)
    page = client_for(connection.pk).list_contacts_v2(page_size=60, order_by="id asc")
    assert all(json.loads(contact.raw_json) == contact.raw for contact in page.contacts)

    run = drive(enqueued[-1])

    assert run.status == "succeeded", run.error
    stored = dict(Contact.objects.filter(connection=connection).values_list("keap_id", "raw"))
    assert stored == {contact.id: contact.raw for contact in page.contacts}
