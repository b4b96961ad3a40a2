"""A v2 page of contacts read by the fast reader gives exactly what the general reader gives,
whatever Keap puts in the fields Onramp types; what the fast reader cannot read is left to the
general one, which refuses it as before."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import json_values
from webapp.keap.errors import KeapProtocolError
from webapp.keap.results import contact_from_v2, contacts_from_v2_page

_digits = st.integers(min_value=-5, max_value=2**64).map(str)
_text = st.text(max_size=8)
# Each typed field as Keap sends it.
_fields = {
    "given_name": _text | st.none(),
    "family_name": _text | st.none(),
    "email_addresses": st.lists(
        st.fixed_dictionaries(
            {"email": _text, "field": st.sampled_from(["EMAIL1", "EMAIL2", "EMAIL3"])},
            optional={"is_opt_in": st.booleans(), "n": json_values},
        ),
        max_size=3,
    ),
    "phone_numbers": st.lists(
        st.dictionaries(st.text(max_size=4), json_values, max_size=2), max_size=2
    ),
    "company": st.none() | st.fixed_dictionaries({}, optional={"company_name": _text | st.none()}),
    "tag_ids": st.lists(_digits | st.integers(min_value=-(2**63), max_value=2**63), max_size=3),
    "update_time": st.none()
    | st.sampled_from(
        ["2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05+02:00", "2026-01-02T03:04:05", "soon"]
    ),
}
_ids = st.integers(min_value=1, max_value=2**63) | _digits
_records = st.fixed_dictionaries({"id": _ids}, optional=_fields).flatmap(
    lambda typed: st.dictionaries(st.text(max_size=5), json_values, max_size=2).map(
        lambda extra: {**extra, **typed}
    )
)
# Or with one field as Keap should not send it: another type, or no id a contact can have.
_odd_records = st.tuples(
    _records, st.sampled_from(["id", *_fields]), json_values | st.just("7.5") | st.just([])
).map(lambda odd: {**odd[0], odd[1]: odd[2]})


def _general(record_text: str):
    try:
        return contact_from_v2(json.loads(record_text))
    except KeapProtocolError as exc:
        return exc


def _typed(contact) -> tuple:
    return (
        contact.id,
        contact.given_name,
        contact.family_name,
        contact.email_addresses,
        contact.phone_numbers,
        contact.company,
        contact.tag_ids,
        contact.updated_at,
        contact.email,
    )


@given(
    records=st.lists(_records | _odd_records, max_size=3), token=st.sampled_from(["", "next", None])
)
def test_the_fast_reader_types_every_record_as_the_general_reader_does(records, token):
    texts = [json.dumps(record, ensure_ascii=False) for record in records]
    body = {"contacts": "[" + ", ".join(texts) + "]", "token": json.dumps(token)}
    content = f'{{"contacts": {body["contacts"]}, "next_page_token": {body["token"]}}}'.encode()
    expected = [_general(text) for text in texts]

    refused = next((e for e in expected if isinstance(e, KeapProtocolError)), None)
    if refused is not None:
        with pytest.raises(KeapProtocolError, match=str(refused)):
            contacts_from_v2_page(content)
        return
    next_token, contacts = contacts_from_v2_page(content)

    assert next_token == (token or "")
    assert [_typed(c) for c in contacts] == [_typed(c) for c in expected]
    # Each record is kept as Keap's own bytes for it.
    assert [c.raw_json for c in contacts] == [text.encode() for text in texts]


@pytest.mark.parametrize(
    "content",
    [
        b'{"contacts": [{"id": "1"}], "next_page_token": 5}',
        b'{"next_page_token": ""}',
        b'{"contacts": {"id": "1"}}',
        b'[{"id": "1"}]',
        b'{"contacts": [{"id": "1", "given_name": "\xff"}]}',
        b'{"contacts": [{"id": "1"}]',
        b'{"contacts": [{"id": "1", "n": NaN}]}',
        b'{"contacts": [{"id": "1", "n": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]}",
    ],
)
def test_a_page_not_of_the_plain_shape_is_left_to_the_general_reader(content):
    assert contacts_from_v2_page(content) is None
