"""The hook URL: Keap's confirmation echoed, each delivery stored as it came, anything else refused."""

import json
import logging

import pytest
from django.test import Client

from webapp.connections.models import KeapConnection
from webapp.hooks.models import HookDelivery, HookEndpoint, hook_url
from webapp.hooks.views import forget_secrets

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(connection):
    endpoint = HookEndpoint(connection=connection, status=HookEndpoint.Status.VERIFIED)
    secret = endpoint.new_secret()
    endpoint.save()
    return endpoint, secret


def _url(connection_id, secret):
    return hook_url(connection_id, secret).removeprefix("http://localhost:8000")


def _deliver(connection_id, secret, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client().post(
        _url(connection_id, secret), data, content_type="application/json", **headers
    )


def _delivery(event_key="contact.edit", ids=(5,)):
    return {
        "event_key": event_key,
        "object_type": "contact",
        "object_keys": [
            {
                "id": i,
                "apiUrl": f"https://api.infusionsoft.com/crm/rest/v1/contacts/{i}",
                "timestamp": "2026-12-07T10:00:00.000Z",
            }
            for i in ids
        ],
    }


def test_keaps_confirmation_is_echoed_and_nothing_is_stored(endpoint):
    ep, secret = endpoint

    response = _deliver(ep.connection_id, secret, "", HTTP_X_HOOK_SECRET="keap-says-hello")

    assert response.status_code == 200
    assert response["X-Hook-Secret"] == "keap-says-hello"
    assert not HookDelivery.objects.exists()


def test_a_delivery_is_stored_as_it_came_and_answered_at_once(endpoint):
    ep, secret = endpoint

    response = _deliver(ep.connection_id, secret, _delivery("contact.add", ids=(5, 6, 7)))

    assert response.status_code == 200
    [stored] = HookDelivery.objects.all()
    assert stored.connection_id == ep.connection_id and stored.event_key == "contact.add"
    assert [keap_id for keap_id, _ in stored.ids] == [5, 6, 7]
    assert stored.applied_at is None


def test_duplicates_are_normal_input(endpoint):
    ep, secret = endpoint

    for _ in range(3):
        assert _deliver(ep.connection_id, secret, _delivery()).status_code == 200

    assert HookDelivery.objects.count() == 3  # coalesced when applied, not refused here


def test_a_batch_of_a_thousand_is_taken_and_one_more_is_refused(endpoint):
    ep, secret = endpoint

    full = _deliver(ep.connection_id, secret, _delivery(ids=range(1, 1001)))
    over = _deliver(ep.connection_id, secret, _delivery(ids=range(1, 1002)))

    assert full.status_code == 200 and over.status_code == 400
    assert "1000" in over.json()["error"]
    assert HookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{not json", 400, "not JSON"),
        ("[1, 2]", 400, "not a JSON object"),
        ({"event_key": "invoice.add", "object_keys": []}, 400, "event_key must be one of"),
        ({**_delivery(), "object_type": "company"}, 400, "object_type"),
        ({"event_key": "contact.add", "object_keys": "5"}, 400, "object_keys must be a list"),
        ({"event_key": "contact.add", "object_keys": [{"id": "x"}]}, 400, "positive integer id"),
        ({"event_key": "contact.add", "object_keys": [{"id": 0}]}, 400, "positive integer id"),
        ({"event_key": "contact.add", "object_keys": [{"id": 2**63}]}, 400, "positive integer id"),
        ({"event_key": "contact.add", "object_keys": [{"id": True}]}, 400, "positive integer id"),
        ({"event_key": "contact.add", "object_keys": [7]}, 400, "positive integer id"),
        ("x" * 1_000_001, 413, "larger than"),
    ],
)
def test_what_is_not_a_delivery_gets_a_clear_error_and_changes_nothing(
    endpoint, body, status, message
):
    ep, secret = endpoint

    response = _deliver(ep.connection_id, secret, body)

    assert response.status_code == status
    assert message in response.json()["error"]
    assert not HookDelivery.objects.exists()


def test_a_wrong_secret_or_another_connections_url_is_gone(endpoint, other_customer):
    from tests.factories import ConnectionFactory

    ep, secret = endpoint
    others = ConnectionFactory(owner=other_customer)

    wrong = _deliver(ep.connection_id, secret[:-2] + "xx", _delivery())
    crossed = _deliver(others.pk, secret, _delivery())
    unknown = _deliver(999_999, secret, _delivery())

    assert wrong.status_code == crossed.status_code == unknown.status_code == 410
    assert not HookDelivery.objects.exists()


def test_a_replaced_secret_stops_working_once_the_process_reads_it_again(endpoint, settings):
    ep, old = endpoint
    assert _deliver(ep.connection_id, old, _delivery()).status_code == 200  # now remembered
    new = ep.new_secret()
    ep.save()

    assert _deliver(ep.connection_id, old, _delivery()).status_code == 200  # for a few seconds
    settings.HOOKS_SECRET_CACHE_SECONDS = 0
    forget_secrets()
    assert _deliver(ep.connection_id, old, _delivery()).status_code == 410
    assert _deliver(ep.connection_id, new, _delivery()).status_code == 200


def test_a_burst_of_deliveries_reads_the_secret_once(endpoint, django_assert_num_queries):
    ep, secret = endpoint
    _deliver(ep.connection_id, secret, _delivery())

    with django_assert_num_queries(3):  # each: one INSERT, in its own savepoint
        for _ in range(3):
            assert _deliver(ep.connection_id, secret, _delivery()).status_code == 200


def test_a_disconnected_or_unsubscribed_connection_answers_gone_even_to_keaps_confirmation(
    endpoint,
):
    ep, secret = endpoint
    KeapConnection.objects.filter(pk=ep.connection_id).update(
        status=KeapConnection.Status.DISCONNECTED
    )

    assert _deliver(ep.connection_id, secret, _delivery()).status_code == 410
    assert _deliver(ep.connection_id, secret, "", HTTP_X_HOOK_SECRET="s").status_code == 410
    KeapConnection.objects.filter(pk=ep.connection_id).update(status=KeapConnection.Status.ACTIVE)
    HookEndpoint.objects.filter(pk=ep.pk).update(status=HookEndpoint.Status.UNSUBSCRIBED)
    assert _deliver(ep.connection_id, secret, _delivery()).status_code == 410
    assert not HookDelivery.objects.exists()


def test_only_post_is_taken(endpoint):
    ep, secret = endpoint

    assert Client().get(_url(ep.connection_id, secret)).status_code == 405


def test_the_secret_is_never_logged(endpoint, caplog):
    ep, secret = endpoint
    caplog.set_level(logging.DEBUG)

    _deliver(ep.connection_id, secret, _delivery())
    _deliver(ep.connection_id, secret, "{not json")
    _deliver(ep.connection_id, secret + "x", _delivery())

    assert secret not in caplog.text
    assert f"/hooks/keap/{ep.connection_id}/" in caplog.text  # the path is logged, less its secret


def test_the_stored_secret_is_a_digest(endpoint):
    ep, secret = endpoint

    stored = HookEndpoint.objects.get(pk=ep.pk)

    assert secret not in stored.secret_digest and len(stored.secret_digest) == 64
    assert stored.accepts(secret) and not stored.accepts(secret + "x")
