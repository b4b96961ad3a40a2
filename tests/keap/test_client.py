"""The Keap client against the sandbox: typed results, retries, 429s, the limiter, usage records."""

import ast
import time
from pathlib import Path

import pytest

from webapp import limiter
from webapp.connections.tokens import client_for
from webapp.keap.errors import (
    KeapLimiterUnavailable,
    KeapNotFound,
    KeapProtocolError,
    KeapRejected,
    KeapThrottled,
    KeapUnavailable,
)
from webapp.keap.models import DeveloperApp
from webapp.limiter import Lane
from webapp.usage import recorder
from webapp.usage.models import RawCall

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def connection(owner_client, connect):
    return connect(owner_client, app="ab123")


def _calls(keap, tenant="ab123") -> int:
    endpoints = keap.counts()["tenants"].get(tenant, {})
    return sum(e["calls"] for e in endpoints.values())


def test_contacts_come_back_typed_from_both_rest_versions(connection):
    keap = client_for(connection.pk)
    v1 = keap.list_contacts_v1(limit=5, offset=0)
    v2 = keap.list_contacts_v2(page_size=5)
    assert len(v1.contacts) == 5 and v1.total and v1.total >= 5
    assert len(v2.contacts) == 5 and v2.next_page_token
    assert v1.contacts[0].id == v2.contacts[0].id
    assert v1.contacts[0].updated_at is not None and v1.contacts[0].updated_at.tzinfo
    one = keap.get_contact(v1.contacts[0].id, version=2)
    assert (one.id, one.given_name) == (v1.contacts[0].id, v1.contacts[0].given_name)


def test_create_and_update_a_contact(connection):
    keap = client_for(connection.pk)
    created = keap.create_contact(
        {"given_name": "Zoë", "email_addresses": [{"email": "zoe@example.com", "field": "EMAIL1"}]}
    )
    assert created.given_name == "Zoë" and created.email == "zoe@example.com"
    updated = keap.update_contact(created.id, {"family_name": "Ångström"}, version=2)
    assert (updated.id, updated.given_name, updated.family_name) == (created.id, "Zoë", "Ångström")
    upserted = keap.create_contact(
        {"given_name": "Zoe", "email_addresses": [{"email": "zoe@example.com", "field": "EMAIL1"}]},
        duplicate_option="Email",
    )
    assert upserted.id == created.id


@pytest.mark.parametrize("api", ["rest_v1", "rest_v2", "xmlrpc"])
def test_goals_through_each_api_report_what_fired(connection, keap, api):
    keap.clear_goal_achievements()
    contact = client_for(connection.pk).list_contacts_v1(limit=1).contacts[0]
    results = client_for(connection.pk).achieve_goal(
        integration="ab123", call_name="purchased", contact_id=contact.id, api=api
    )
    assert len(results) == 2 and all(r.success for r in results)
    assert all(r.goal_id for r in results)
    assert len(keap.goal_achievements(tenant="ab123")) == 1
    nothing = client_for(connection.pk).achieve_goal(
        integration="ab123", call_name="no-such-goal", contact_id=contact.id, api=api
    )
    assert nothing == []


def test_an_unknown_contact_is_a_typed_error(connection):
    with pytest.raises(KeapNotFound):
        client_for(connection.pk).get_contact(987654321)
    with pytest.raises(KeapRejected) as refused:
        client_for(connection.pk).achieve_goal(
            integration="ab123", call_name="purchased", contact_id=987654321
        )
    assert refused.value.status == 400


def test_reads_ride_out_5xx_with_backoff(connection, keap, monkeypatch):
    monkeypatch.setattr("webapp.keap.calls.BACKOFF_BASE_SECONDS", 0.01)
    keap.inject("error", status=503, count=2, path_prefix="/crm/rest/v1/oauth")
    assert client_for(connection.pk).userinfo().email == "alex@sandbox.keap.test"
    assert keap.faults()[0]["seen"] == 2


def test_a_goal_that_timed_out_is_not_sent_again(connection, keap, settings):
    keap.clear_goal_achievements()
    settings.KEAP_HTTP_TIMEOUT_SECONDS = 1
    keap.inject("timeout", seconds=2, processed=True, count=1, path_prefix="/crm/rest/v1/campaigns")
    with pytest.raises(KeapUnavailable):
        client_for(connection.pk).achieve_goal(
            integration="ab123", call_name="purchased", contact_id=1
        )
    time.sleep(1.5)  # the sandbox finishes processing the request it held
    assert len(keap.goal_achievements(tenant="ab123")) == 1  # it landed once, and only once


def test_a_429_pauses_the_bucket_then_the_call_goes_through(connection, keap):
    # Keap's real limit is lower than the developer app says: Keap answers 429 with Retry-After.
    keap.set_settings(app_limit_per_second=1, retry_after=True)
    keap.clear_goal_achievements()
    client = client_for(connection.pk)
    client.userinfo()
    started = time.monotonic()
    results = client.achieve_goal(integration="ab123", call_name="purchased", contact_id=1)
    assert len(results) == 2  # a 429 proves the goal did not land, so it is safely sent again
    assert time.monotonic() - started >= 0.5
    assert keap.counts()["throttled"] >= 1
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_a_call_held_up_between_grant_and_send_keeps_its_slot_in_the_second(connection, keap):
    """A worker starved of CPU after its grant sends the call more than a second later: the
    limiter must still count it, or Keap sees one call too many in that second."""
    keap.set_settings(app_limit_per_second=3)
    DeveloperApp.objects.update(limit_per_second=3)
    starved = client_for(connection.pk, lane=Lane.BULK)
    reserved = starved.reserve()
    time.sleep(1.2)
    other = client_for(connection.pk)
    ask = {"app": other.app.client_id, "tenant": "ab123", "limits": other.limits}
    # Two more calls granted (and, like the starved one, still in flight: however slowly this
    # machine runs, they hold their slots until settled).
    two = [limiter.try_acquire(lane=Lane.INTERACTIVE, **ask) for _ in range(2)]
    assert all(grant.granted for grant in two)
    # The call still on its way holds the third slot: a third call now is refused.
    refused = limiter.try_acquire(lane=Lane.INTERACTIVE, **ask)
    assert (refused.granted, refused.bucket) == (False, "app:second")
    for grant in two:
        limiter.settle(decision=grant, **ask)
    sent = starved.start_list_contacts_v2(page_size=5, reserved=reserved).send()
    assert len(starved.list_contacts_v2(page_size=5, sent=sent).contacts) == 5
    other.userinfo()  # waits for a slot, then goes through
    assert keap.counts()["throttled"] == 0


def test_a_zero_limit_stops_calls_before_they_are_sent(connection, keap):
    DeveloperApp.objects.update(limit_per_day=0)
    before = _calls(keap)
    with pytest.raises(KeapThrottled, match="app:day"):
        client_for(connection.pk).userinfo()
    assert _calls(keap) == before


def test_limiter_unreachable_means_nothing_is_sent(connection, keap, settings):
    settings.LIMITER_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    before = _calls(keap)
    with pytest.raises(KeapLimiterUnavailable, match="nothing was sent"):
        client_for(connection.pk).userinfo()
    assert _calls(keap) == before
    settings.LIMITER_REDIS_URL = ""
    assert client_for(connection.pk).userinfo().email  # works again when the limiter is back


def test_a_malformed_body_is_a_typed_error(connection, keap):
    keap.inject("malformed", mode="truncated", count=1, path_prefix="/crm/rest/v1/contacts")
    with pytest.raises(KeapProtocolError):
        client_for(connection.pk).list_contacts_v1(limit=10)


def test_every_call_is_recorded_with_its_outcome(connection, keap):
    recorder.flush()
    RawCall.objects.all().delete()
    client = client_for(connection.pk)
    client.userinfo()
    client.list_contacts_v2(page_size=3)
    with pytest.raises(KeapNotFound):
        client.get_contact(987654321)
    recorder.flush()
    rows = list(RawCall.objects.order_by("at", "pk").values_list("operation", "status", "tenant"))
    assert rows == [
        ("userinfo.v1", 200, "ab123"),
        ("contacts.list.v2", 200, "ab123"),
        ("contacts.get.v1", 404, "ab123"),
    ]
    assert RawCall.objects.filter(connection_id=connection.pk).count() == 3
    assert not RawCall.objects.filter(throttled=True).exists()  # nobody had to wait
    quotas = list(RawCall.objects.order_by("at", "pk").values_list("operation", "quota"))
    assert all(q for _, q in quotas), quotas


def test_no_module_outside_the_keap_client_imports_an_http_library():
    """Every job and view reaches Keap through webapp/keap; the sandbox is Keap's stand-in."""
    http_libraries = {"requests", "httpx", "urllib3", "aiohttp", "http.client", "urllib.request"}
    allowed = (ROOT / "webapp" / "keap", ROOT / "webapp" / "sandbox")
    offenders = []
    for path in (ROOT / "webapp").rglob("*.py"):
        if any(path.is_relative_to(folder) for folder in allowed):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name in http_libraries or name.split(".")[0] in {"requests", "httpx", "aiohttp"}
            ]
    assert offenders == []
