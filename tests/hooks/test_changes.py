"""Changes Keap pushes reach the connection's contacts, whatever happens to the deliveries on the way."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from tests.hooks.conftest import keap_contacts, wait_for
from tests.sync.conftest import drive, list_calls
from webapp.connections import flows as connection_flows
from webapp.hooks import subscriptions
from webapp.hooks.models import EVENT_KEYS, HookDelivery, HookEndpoint
from webapp.keap.results import parse_timestamp
from webapp.schedule import tasks as schedule_tasks
from webapp.schedule import today
from webapp.sync import flows
from webapp.sync.models import Contact, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


def _local(connection) -> dict[int, object]:
    return dict(
        Contact.objects.filter(connection=connection).values_list("keap_id", "keap_updated_at")
    )


def assert_copy_matches(keap, tenant: str, connection) -> None:
    """The local copy holds exactly Keap's contacts, each as Keap last changed it."""
    remote = {k: parse_timestamp(v) for k, v in keap_contacts(keap, tenant).items()}
    local = _local(connection)
    assert set(local) == set(remote), set(local) ^ set(remote)
    stale = [k for k, when in remote.items() if local[k] != when]
    assert not stale, f"stale in the copy: {stale[:10]}"


def _apply_waiting(enqueued) -> SyncRun | None:
    """What beat does every two seconds, then the worker: a changes run for what Keap pushed."""
    before = len(enqueued)
    schedule_tasks.start_changes()
    return drive(enqueued[-1]) if len(enqueued) > before else None


def _received(connection, ids) -> bool:
    got = set()
    for row in HookDelivery.objects.filter(connection_id=connection.pk):
        got.update(keap_id for keap_id, _ in row.ids)
    return set(ids) <= got


def test_connecting_subscribes_to_keaps_contact_events_and_keap_confirms_them(
    hooked, keap, receiver
):
    tenant, connection = hooked()

    subs = keap.hooks(tenant)
    assert sorted(s["eventKey"] for s in subs) == sorted(EVENT_KEYS)
    assert {s["status"] for s in subs} == {"Verified"}
    prefix = f"{receiver.url}/hooks/keap/{connection.pk}/"
    assert all(s["hookUrl"].startswith(prefix) for s in subs)
    endpoint = HookEndpoint.objects.get(connection=connection)
    assert endpoint.status == "verified" and endpoint.next_check_at is not None
    assert endpoint.secret_digest not in " ".join(s["hookUrl"] for s in subs)


def test_adds_edits_and_deletes_made_in_keap_reach_the_copy_without_polling(hooked, keap, enqueued):
    tenant, connection = hooked(120)
    played = keap.play(tenant, adds=3, edits=4, deletes=2)
    changed = played["added"] + played["edited"] + played["deleted"]
    wait_for(lambda: _received(connection, changed), what="Keap's deliveries")
    keap.reset_stats()

    run = _apply_waiting(enqueued)

    assert run is not None and run.kind == "changes" and run.status == "succeeded", run.error
    assert (run.created, run.updated, run.deleted) == (3, 4, 2)
    assert list_calls(keap, tenant) == {"contacts_v2": 1}  # seven contacts by id, in one call
    assert run.calls == 1
    assert not SyncRun.objects.filter(connection=connection, kind="incremental").exists()
    assert not HookDelivery.objects.filter(connection_id=connection.pk, applied_at=None).exists()
    assert_copy_matches(keap, tenant, connection)


def test_many_changes_are_fetched_as_a_window_when_that_costs_fewer_calls(
    hooked, keap, enqueued, settings
):
    settings.HOOKS_IDS_PER_CALL = 10  # so 40 changed contacts would take 4 calls by id
    tenant, connection = hooked(120)
    played = keap.play(tenant, edits=40)
    wait_for(lambda: _received(connection, played["edited"]), what="Keap's deliveries")
    keap.reset_stats()

    run = _apply_waiting(enqueued)

    assert run.status == "succeeded", run.error
    assert run.checkpoint["how"] == "window"
    assert list_calls(keap, tenant) == {"contacts_v2": 1}
    assert_copy_matches(keap, tenant, connection)


def test_a_delivery_for_a_contact_deleted_since_is_a_deletion_not_an_error(hooked, keap, enqueued):
    tenant, connection = hooked(50)
    played = keap.play(tenant, edits=1)
    wait_for(lambda: _received(connection, played["edited"]), what="the edit's delivery")
    keap.inject_hook_fault("drop", tenant=tenant, count=1)  # the delete's delivery is lost
    keap.delete_contacts(tenant, ids=played["edited"])
    wait_for(lambda: any(d["state"] == "dropped" for d in keap.deliveries(tenant=tenant)),
             what="the delete's delivery to be dropped")  # fmt: skip

    run = _apply_waiting(enqueued)

    assert run.status == "succeeded", run.error
    assert run.deleted == 1
    assert_copy_matches(keap, tenant, connection)


def test_duplicated_and_reordered_deliveries_are_applied_once_and_right(hooked, keap, enqueued):
    tenant, connection = hooked(80)
    keap.inject_hook_fault("duplicate", tenant=tenant, count=5)
    keap.inject_hook_fault("reorder", tenant=tenant, count=5)
    changed: list[int] = []
    for _ in range(3):
        played = keap.play(tenant, edits=3, adds=1)
        changed += played["edited"] + played["added"]
    changed += keap.play(tenant, deletes=2)["deleted"]
    wait_for(lambda: _received(connection, changed), what="deliveries")
    wait_for(lambda: all(d["state"] not in ("pending", "sending")
                         for d in keap.deliveries(tenant=tenant)),
             what="every delivery to be sent")  # fmt: skip
    keap.reset_stats()

    run = _apply_waiting(enqueued)

    assert run.status == "succeeded", run.error
    distinct = len({k for row in HookDelivery.objects.all() for k, _ in row.ids})
    assert run.fetched + run.deleted <= distinct  # each contact once, however often it came
    assert sum(list_calls(keap, tenant).values()) == 1
    assert_copy_matches(keap, tenant, connection)


def test_dropped_deliveries_are_restored_by_the_reconcile(hooked, keap, enqueued):
    tenant, connection = hooked(60)
    keap.inject_hook_fault("drop", tenant=tenant, count=100)
    keap.play(tenant, adds=2, edits=3, deletes=2)
    wait_for(lambda: sum(d["state"] == "dropped" for d in keap.deliveries(tenant=tenant)) >= 3,
             what="the deliveries to be dropped")  # fmt: skip
    assert _apply_waiting(enqueued) is None  # nothing came: nothing to apply
    assert set(_local(connection)) != set(keap_contacts(keap, tenant))

    run = drive(flows.start_sync(connection=connection, kind="reconcile").pk)

    assert run.status == "succeeded", run.error
    assert_copy_matches(keap, tenant, connection)


def test_a_receiver_down_turns_keaps_subscriptions_inactive_the_connection_is_polled_then_hooks_return(
    hooked, keap, enqueued, receiver, settings
):
    tenant, connection = hooked(60)
    receiver.down = True
    keap.play(tenant, edits=2)  # Keap fails to deliver these four times over
    wait_for(lambda: {s["status"] for s in keap.hooks(tenant) if s["eventKey"] == "contact.edit"}
             == {"Inactive"}, what="Keap to give up on the receiver")  # fmt: skip

    endpoint = subscriptions.check(connection_id=connection.pk)  # the day's check finds it

    assert endpoint.status == "failing" and "not confirmed" in endpoint.detail
    _, states = today.make_plan(connection.developer_app)
    [state] = [s for s in states if s.id == connection.pk]
    assert not state.hooked  # so the plan polls it
    long_ago = timezone.now() - timedelta(hours=2)
    SyncRun.objects.filter(connection=connection).update(finished_at=long_ago)  # last synced then
    started = today.act(connection.developer_app)
    assert [(w.kind, w.connection_id) for w in started if w.kind == "polling"] == [
        ("polling", connection.pk)
    ]
    poll = drive(enqueued[-1])
    assert poll.kind == "incremental" and poll.status == "succeeded", poll.error

    receiver.down = False
    endpoint = subscriptions.check(connection_id=connection.pk)  # its backed-off check comes

    assert endpoint.status == "verified"
    assert {s["status"] for s in keap.hooks(tenant)} == {"Verified"}
    catch_up = SyncRun.objects.filter(connection=connection).latest("pk")
    assert catch_up.kind == "incremental" and catch_up.status == "queued"
    drive(catch_up.pk)
    again = keap.play(tenant, edits=1)
    wait_for(lambda: _received(connection, again["edited"]), what="deliveries to resume")
    assert _apply_waiting(enqueued).status == "succeeded"
    assert_copy_matches(keap, tenant, connection)


def test_disconnecting_deletes_the_subscriptions_and_the_url_is_gone(hooked, keap, owner, receiver):
    tenant, connection = hooked(10)
    urls = {s["hookUrl"] for s in keap.hooks(tenant)}

    connection_flows.disconnect(connection=connection, actor=owner)

    assert keap.hooks(tenant) == []
    for url in urls:  # a late delivery to the old URL: 410, which makes Keap stop at once
        assert requests.post(url, json={}, timeout=5).status_code == 410
    assert HookEndpoint.objects.get(connection=connection).status == "unsubscribed"


def test_a_check_that_finds_keap_gave_up_verifies_again_and_catches_up_what_was_missed(
    hooked, keap, enqueued, receiver
):
    tenant, connection = hooked(60)
    receiver.down = True
    missed = keap.play(tenant, edits=2, adds=1)  # delivered four times over, to no avail
    wait_for(lambda: "Inactive" in {s["status"] for s in keap.hooks(tenant)},
             what="Keap to give up on the receiver")  # fmt: skip
    receiver.down = False  # back before anyone at Onramp noticed

    endpoint = subscriptions.check(connection_id=connection.pk)

    assert endpoint.status == "verified"
    assert {s["status"] for s in keap.hooks(tenant)} == {"Verified"}
    catch_up = SyncRun.objects.filter(connection=connection).latest("pk")
    assert catch_up.kind == "incremental" and catch_up.status == "queued"
    assert drive(catch_up.pk).status == "succeeded"
    assert set(missed["edited"] + missed["added"]) <= set(_local(connection))
    assert_copy_matches(keap, tenant, connection)


def test_a_delivery_naming_another_tenants_contacts_changes_nothing_here(
    hooked, keap, enqueued, make_tenant
):
    tenant, connection = hooked(30)
    other = make_tenant(30)
    foreign = sorted(keap_contacts(keap, other))[:3]
    foreign = [k for k in foreign if k not in _local(connection)] or [10**12]
    before = _local(connection)
    url = keap.hooks(tenant)[0]["hookUrl"]

    answer = requests.post(url, json={
        "event_key": "contact.edit", "object_type": "contact",
        "object_keys": [{"id": k, "apiUrl": "", "timestamp": ""} for k in foreign],
    }, timeout=5)  # fmt: skip
    run = _apply_waiting(enqueued)

    assert answer.status_code == 200 and run.status == "succeeded"
    assert _local(connection) == before  # Keap has no such contacts for this tenant
    assert_copy_matches(keap, tenant, connection)


def test_a_flood_of_deliveries_is_taken_and_applied_in_one_run(hooked, keap, enqueued):
    tenant, connection = hooked(40)
    url = keap.hooks(tenant)[0]["hookUrl"]
    ids = sorted(_local(connection))
    session = requests.Session()

    answers = {
        session.post(
            url,
            json={
                "event_key": "contact.edit",
                "object_type": "contact",
                "object_keys": [{"id": ids[n % len(ids)], "apiUrl": "", "timestamp": ""}],
            },
            timeout=5,
        ).status_code
        for n in range(400)
    }
    keap.reset_stats()
    run = _apply_waiting(enqueued)

    assert answers == {200}
    assert HookDelivery.objects.filter(connection_id=connection.pk).count() >= 400
    assert run.status == "succeeded" and run.fetched == len(ids)
    assert list_calls(keap, tenant) == {"contacts_v2": 1}  # forty contacts, four hundred notices
    assert_copy_matches(keap, tenant, connection)


def test_keap_never_confirming_leaves_the_connection_polled_and_says_so(
    owner_client, connect, make_tenant, enqueued, hooks_on, receiver, eager_celery, keap
):
    receiver.down = True  # Keap's confirmation gets a 503
    connection = connect(owner_client, app=make_tenant(10))

    endpoint = HookEndpoint.objects.get(connection=connection)
    assert endpoint.status == "failing" and endpoint.next_check_at > timezone.now()
    assert {s["status"] for s in keap.hooks(connection.app_name)} == {"Unverified"}
    assert drive(enqueued[-1]).status == "succeeded"  # the first sync ran all the same
    _, states = today.make_plan(connection.developer_app)
    assert not next(s for s in states if s.id == connection.pk).hooked
    page = owner_client.get(f"/connections/{connection.pk}/").content.decode()
    assert "Checked every" in page and "Keap has not confirmed 3 of 3" in page
