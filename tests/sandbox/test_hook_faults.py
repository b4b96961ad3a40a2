"""Delivery faults: drop, delay, duplicate, reorder, and answers the sandbox pretends it saw."""

import pytest
import requests

from tests.sandbox.conftest import new_tenant
from tests.sandbox.hook_helpers import settled, subscribe


def _attempts(delivery: dict) -> list[dict]:
    return [entry for entry in delivery["log"] if "attempt" in entry]


def test_drop_never_sends_that_delivery(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    fault = hooked.inject_hook_fault("drop", tenant=fresh_tenant.app, count=1)
    assert (fault["kind"], fault["remaining"]) == ("drop", 1)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    [dropped] = settled(hooked, fresh_tenant.app)
    hooked.touch_contacts(fresh_tenant.app, ids=[2])
    assert receiver.wait_for_ids([2])
    assert receiver.object_ids() == [2]
    assert dropped["state"] == "dropped" and dropped["attempts"] == 0
    assert dropped["object_ids"] == [1]
    assert hooked.hook_faults()[0]["remaining"] == 0


def test_drop_with_probability_one_drops_every_delivery(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    hooked.inject_hook_fault("drop", tenant=fresh_tenant.app, probability=1.0)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    hooked.touch_contacts(fresh_tenant.app, ids=[2])
    states = {d["state"] for d in settled(hooked, fresh_tenant.app)}
    assert states == {"dropped"} and receiver.deliveries() == []


def test_delay_holds_a_delivery_back(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    hooked.inject_hook_fault("delay", tenant=fresh_tenant.app, count=1, seconds=1.5)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    assert receiver.wait_for_ids([1])
    [delivery] = settled(hooked, fresh_tenant.app)
    delayed, sent = delivery["log"]
    assert delayed["outcome"] == "delayed" and delayed["seconds"] == 1.5
    assert sent["at_ms"] - delayed["at_ms"] >= 1500
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1


def test_duplicate_sends_the_same_delivery_twice(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    hooked.inject_hook_fault("duplicate", tenant=fresh_tenant.app, count=1)
    hooked.touch_contacts(fresh_tenant.app, ids=[1, 2])
    assert receiver.wait_for(lambda r: len(r.deliveries()) == 2)
    first, second = receiver.deliveries()
    assert first.body == second.body
    [delivery] = settled(hooked, fresh_tenant.app)
    assert [entry.get("duplicate", False) for entry in delivery["log"]] == [False, True]


def test_reorder_sends_a_later_batch_first(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.add")
    hooked.set_settings(hook_batch_size=5)
    hooked.inject_hook_fault("reorder", tenant=fresh_tenant.app, count=1)
    played = hooked.play(fresh_tenant.app, adds=12)
    assert receiver.wait_for_ids(played["added"])
    batches = [[key["id"] for key in r.json()["object_keys"]] for r in receiver.deliveries()]
    added = played["added"]
    assert batches == [added[10:], added[:5], added[5:10]]
    reordered = [d for d in settled(hooked, fresh_tenant.app) if d["object_ids"] == added[10:]]
    assert reordered[0]["log"][0]["outcome"] == "reordered"


def test_pretended_5xx_is_retried_though_the_receiver_got_it(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    hooked.inject_hook_fault("error", tenant=fresh_tenant.app, count=1, status=503)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    assert receiver.wait_for(lambda r: len(r.deliveries()) == 2)
    [delivery] = settled(hooked, fresh_tenant.app)
    first, second = _attempts(delivery)
    assert (first["status"], first["pretend"], first["outcome"]) == (200, "503", "failed")
    assert second["outcome"] == "ok" and delivery["state"] == "delivered"
    assert hooked.hooks(fresh_tenant.app)[0]["status"] == "Verified"


def test_pretended_errors_four_times_make_it_inactive(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    hooked.inject_hook_fault("error", tenant=fresh_tenant.app, count=4, sent=False)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    [delivery] = settled(hooked, fresh_tenant.app)
    assert delivery["state"] == "failed" and delivery["attempts"] == 4
    assert receiver.deliveries() == []  # sent=False: the receiver never saw them
    assert hooked.hooks(fresh_tenant.app)[0]["status"] == "Inactive"


def test_pretended_410_makes_it_inactive_at_once(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    hooked.inject_hook_fault("error", tenant=fresh_tenant.app, count=1, status=410)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    [delivery] = settled(hooked, fresh_tenant.app)
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    [row] = hooked.hooks(fresh_tenant.app)
    assert row["status"] == "Inactive" and row["inactive_reason"] == "410 Gone"


def test_pretended_timeout_is_a_failed_attempt(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    hooked.inject_hook_fault("timeout", tenant=fresh_tenant.app, count=2)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    [delivery] = settled(hooked, fresh_tenant.app)
    attempts = _attempts(delivery)
    assert [a.get("pretend") for a in attempts] == ["timeout", "timeout", None]
    assert delivery["state"] == "delivered" and len(receiver.deliveries()) == 3


def test_a_tenants_fault_leaves_other_tenants_alone(hooked, fresh_tenant, receiver):
    other = new_tenant(hooked)
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    subscribe(other, receiver.url, "contact.edit")
    hooked.inject_hook_fault("drop", tenant=other.app, probability=1.0)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    hooked.touch_contacts(other.app, ids=[2])
    assert [d["state"] for d in settled(hooked, other.app)] == ["dropped"]
    assert [d["state"] for d in settled(hooked, fresh_tenant.app)] == ["delivered"]
    assert receiver.object_ids() == [1]


def test_a_global_fault_applies_to_every_tenant(hooked, fresh_tenant, receiver):
    other = new_tenant(hooked)
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    subscribe(other, receiver.url, "contact.edit")
    hooked.inject_hook_fault("drop", count=2)
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    hooked.touch_contacts(other.app, ids=[2])
    assert [d["state"] for d in settled(hooked, other.app)] == ["dropped"]
    assert [d["state"] for d in settled(hooked, fresh_tenant.app)] == ["dropped"]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "explode", "count": 1},
        {"kind": "drop"},
        {"kind": "drop", "count": 1, "probability": 0.5},
        {"kind": "drop", "count": 0},
        {"kind": "drop", "probability": 1.5},
        {"kind": "drop", "count": 1, "tenant": "zz999"},
        {"kind": "drop", "count": 1, "seconds": 3},
        {"kind": "delay", "count": 1, "seconds": -1},
        {"kind": "delay", "count": 1, "seconds": "soon"},
        {"kind": "error", "count": 1, "status": 200},
        {"kind": "error", "count": 1, "status": 302},
        {"kind": "timeout", "count": 1, "sent": "no"},
    ],
)
def test_bad_hook_fault_requests_are_refused(hooked, body):
    response = requests.post(f"{hooked.url}/sandbox/api/hooks/faults", json=body, timeout=5)
    assert response.status_code == 400, response.text
    assert hooked.hook_faults() == []
