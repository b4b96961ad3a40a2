"""REST hook deliveries: what arrives, when, in what batches, and Keap's retry and Inactive policy.

The hook sandbox runs Keap's policy with delays shortened to fractions of a second (HOOK_ENV);
bounds on time are one-sided where the policy makes them exact (never before the delay) and
generous where a busy machine could stretch them.
"""

import itertools
import re
import time

import requests

from tests.loopback import serving
from tests.sandbox.conftest import HOOK_ENV, new_tenant
from tests.sandbox.hook_helpers import HOOKS, settled, subscribe
from tests.sandbox.receiver import Receiver
from tests.sandbox.server import run_sandbox

V1_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
EMAIL = [{"email": "hook.test@example.test", "field": "EMAIL1"}]


def check_payload(received, base_url: str) -> None:
    body = received.json()
    assert set(body) == {"event_key", "object_type", "object_keys"}
    assert body["object_type"] == "contact"
    assert 1 <= len(body["object_keys"]) <= 1000
    for key in body["object_keys"]:
        assert set(key) == {"id", "apiUrl", "timestamp"}
        assert isinstance(key["id"], int)
        assert key["apiUrl"] == f"{base_url}/crm/rest/v1/contacts/{key['id']}"
        assert V1_TIME.match(key["timestamp"]), key["timestamp"]
    assert received.headers["Content-Type"] == "application/json"


def test_v1_changes_are_delivered_with_keaps_payload(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url)
    api = fresh_tenant.api
    created = api("POST", "/crm/rest/v1/contacts", json={"email_addresses": EMAIL}).json()["id"]
    api("PATCH", f"/crm/rest/v1/contacts/{created}", json={"given_name": "Edited"})
    upserted = api("PUT", "/crm/rest/v1/contacts",
                   json={"email_addresses": EMAIL, "job_title": "Chef"}).json()["id"]  # fmt: skip
    fresh = api("PUT", "/crm/rest/v1/contacts", json={"phone_numbers": [
        {"number": "503-555-0100", "field": "PHONE1"}]}).json()["id"]  # fmt: skip
    assert api("DELETE", "/crm/rest/v1/contacts/3").status_code == 204
    assert upserted == created
    assert receiver.wait_for_ids([created, fresh], "contact.add")
    assert receiver.wait_for_ids([created], "contact.edit")
    assert receiver.wait_for_ids([3], "contact.delete")
    settled(hooked, fresh_tenant.app)
    assert sorted(receiver.object_ids("contact.add")) == sorted([created, fresh])
    assert receiver.object_ids("contact.edit") == [created, created]
    assert receiver.object_ids("contact.delete") == [3]
    for received in receiver.deliveries():
        check_payload(received, hooked.url)
    # The apiUrl reads the record (a deleted one is gone).
    [add] = [r for r in receiver.deliveries() if r.json()["event_key"] == "contact.add"][:1]
    url = add.json()["object_keys"][0]["apiUrl"]
    assert requests.get(url, headers=api.session.headers, timeout=5).status_code == 200
    [delete] = [r for r in receiver.deliveries() if r.json()["event_key"] == "contact.delete"]
    url = delete.json()["object_keys"][0]["apiUrl"]
    assert requests.get(url, headers=api.session.headers, timeout=5).status_code == 404


def test_v2_changes_are_delivered(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url)
    api = fresh_tenant.api
    v2 = "/crm/rest/v2/contacts"
    created = int(api("POST", v2, json={"email_addresses": EMAIL}).json()["id"])
    again = api("POST", v2, params={"duplicate_option": "Email"},
                json={"email_addresses": EMAIL, "job_title": "Chef"})  # fmt: skip
    assert again.status_code == 200
    api("PATCH", f"{v2}/{created}", params={"update_mask": "job_title"}, json={"job_title": "X"})
    assert api("DELETE", f"{v2}/5").status_code == 204
    assert api("DELETE", f"{v2}/5").status_code == 404
    assert receiver.wait_for_ids([created], "contact.add")
    assert receiver.wait_for_ids([5], "contact.delete")
    assert receiver.wait_for(lambda r: len(r.object_ids("contact.edit")) == 2)
    settled(hooked, fresh_tenant.app)
    assert receiver.object_ids("contact.add") == [created]
    assert receiver.object_ids("contact.edit") == [created, created]
    assert receiver.object_ids("contact.delete") == [5]


def test_control_api_changes_are_delivered(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url)
    touched = hooked.touch_contacts(fresh_tenant.app, ids=[1, 2, 999])["ids"]
    deleted = hooked.delete_contacts(fresh_tenant.app, ids=[3, 4, 999])
    assert (touched, deleted) == ([1, 2], [3, 4])
    assert receiver.wait_for_ids([1, 2], "contact.edit")
    assert receiver.wait_for_ids([3, 4], "contact.delete")
    settled(hooked, fresh_tenant.app)
    receiver.received.clear()
    # Seeding replaces the contacts: ids that stay were edited, gone ones deleted, new ones added.
    hooked.seed_contacts(fresh_tenant.app, 22)
    assert receiver.wait_for_ids([21, 22, 3, 4], "contact.add")
    assert receiver.wait_for_ids(range(5, 21), "contact.edit")
    settled(hooked, fresh_tenant.app)
    assert sorted(receiver.object_ids("contact.add")) == [3, 4, 21, 22]
    assert sorted(receiver.object_ids("contact.edit")) == [1, 2, *range(5, 21)]
    assert receiver.object_ids("contact.delete") == []
    receiver.received.clear()
    hooked.seed_contacts(fresh_tenant.app, 19)
    assert receiver.wait_for_ids([20, 21, 22], "contact.delete")
    settled(hooked, fresh_tenant.app)
    assert sorted(receiver.object_ids("contact.delete")) == [20, 21, 22]


def test_web_app_edits_are_played_and_delivered(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url)
    played = hooked.play(fresh_tenant.app, adds=3, edits=4, deletes=2, seed=7)
    assert len(played["added"]) == 3 and played["added"][0] == 21
    assert len(played["edited"]) == 4 and len(played["deleted"]) == 2
    assert not set(played["edited"]) & set(played["deleted"])
    assert receiver.wait_for_ids(played["added"], "contact.add")
    assert receiver.wait_for_ids(played["edited"], "contact.edit")
    assert receiver.wait_for_ids(played["deleted"], "contact.delete")
    # One burst, one delivery per event key, stamped with the time the control reported.
    deliveries = settled(hooked, fresh_tenant.app)
    assert len(deliveries) == 3
    stamps = {key["timestamp"] for r in receiver.deliveries() for key in r.json()["object_keys"]}
    assert stamps == {played["update_time"].replace("Z", "+0000")}
    listed = fresh_tenant.api("GET", "/crm/rest/v1/contacts", params={"limit": 1000}).json()
    ids = {c["id"] for c in listed["contacts"]}
    assert set(played["added"]) <= ids and not set(played["deleted"]) & ids
    too_many = requests.post(f"{hooked.url}/sandbox/api/tenants/{fresh_tenant.app}/contacts/play",
                             json={"edits": 100, "deletes": 100}, timeout=5)  # fmt: skip
    assert too_many.status_code == 400


def test_only_verified_subscriptions_get_events(hooked, fresh_tenant, receiver):
    keys = subscribe(fresh_tenant, receiver.url, "contact.add", "contact.edit")
    receiver.echo = False
    unverified = fresh_tenant.api("POST", HOOKS, json={"eventKey": "contact.add",
                                                       "hookUrl": receiver.url}).json()  # fmt: skip
    assert unverified["status"] == "Unverified"
    fresh_tenant.api("DELETE", f"{HOOKS}/{keys['contact.edit']}")
    hooked.play(fresh_tenant.app, adds=2, edits=2)
    deliveries = settled(hooked, fresh_tenant.app)
    assert [d["key"] for d in deliveries] == [keys["contact.add"]]
    assert receiver.object_ids("contact.edit") == []


def test_the_first_attempt_waits_the_configured_delay(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.add")
    hooked.set_settings(hook_first_delay_min_seconds=1.0, hook_first_delay_max_seconds=1.5)
    started = time.time()
    played = hooked.play(fresh_tenant.app, adds=1)
    assert receiver.wait_for_ids(played["added"])
    arrived = receiver.deliveries()[0].at
    assert arrived - started >= 1.0
    assert arrived - started < 1.5 + 10  # generous: a busy machine only ever makes it later
    [delivery] = settled(hooked, fresh_tenant.app)
    assert delivery["log"][0]["at_ms"] - delivery["first_change_ms"] >= 1000


def test_settings_shorten_keaps_delays_at_run_time(sandbox, receiver):
    defaults = sandbox.settings()
    assert (defaults["hook_first_delay_min_seconds"], defaults["hook_first_delay_max_seconds"],
            defaults["hook_retry1_min_seconds"], defaults["hook_retry1_max_seconds"],
            defaults["hook_retry2_seconds"], defaults["hook_retry3_seconds"],
            defaults["hook_attempts"], defaults["hook_timeout_seconds"],
            defaults["hook_batch_size"]) == (30, 60, 30, 60, 300, 1800, 4, 30, 1000)  # fmt: skip
    tenant = new_tenant(sandbox)
    subscribe(tenant, receiver.url, "contact.edit")
    try:
        sandbox.set_settings(hook_first_delay_min_seconds=0.1, hook_first_delay_max_seconds=0.2)
        sandbox.touch_contacts(tenant.app, ids=[1])
        assert receiver.wait_for_ids([1], "contact.edit", timeout=20)
    finally:
        sandbox.reset_settings()
        sandbox.delete_all_hooks()


def test_bursts_are_split_at_the_batch_size_and_sent_in_order(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.add")
    played = hooked.play(fresh_tenant.app, adds=1500)
    assert receiver.wait_for_ids(played["added"], timeout=60)
    sizes = [len(r.json()["object_keys"]) for r in receiver.deliveries()]
    assert sizes == [1000, 500]
    assert receiver.object_ids() == played["added"]
    receiver.received.clear()
    hooked.set_settings(hook_batch_size=7)
    played = hooked.play(fresh_tenant.app, adds=20)
    assert receiver.wait_for_ids(played["added"])
    assert [len(r.json()["object_keys"]) for r in receiver.deliveries()] == [7, 7, 6]
    assert receiver.object_ids() == played["added"]


def test_changes_made_while_a_batch_is_in_flight_go_out_together(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    receiver.sleep = 3
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    assert receiver.wait_for(lambda r: len(r.deliveries()) == 1)
    for contact_id in (2, 3, 4):
        hooked.touch_contacts(fresh_tenant.app, ids=[contact_id])
    assert receiver.wait_for_ids([2, 3, 4])
    assert [[key["id"] for key in r.json()["object_keys"]] for r in receiver.deliveries()] == [
        [1],
        [2, 3, 4],
    ]


def _attempts(delivery: dict) -> list[dict]:
    return [entry for entry in delivery["log"] if "attempt" in entry]


def test_a_failing_receiver_is_retried_at_the_gaps_then_inactive_until_verified(
    hooked, fresh_tenant, receiver
):
    key = subscribe(fresh_tenant, receiver.url, "contact.edit")["contact.edit"]
    receiver.status = 500
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    assert receiver.wait_for(lambda r: len(r.deliveries()) == 4)
    [delivery] = settled(hooked, fresh_tenant.app)
    assert delivery["state"] == "failed" and delivery["attempts"] == 4
    attempts = _attempts(delivery)
    assert [a["status"] for a in attempts] == [500, 500, 500, 500]
    gaps = [later["at_ms"] - earlier["at_ms"] for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 300 and gaps[1] >= 600 and gaps[2] >= 900, gaps
    assert len({r.body for r in receiver.deliveries()}) == 1  # the same batch each time
    [row] = hooked.hooks(fresh_tenant.app)
    assert row["status"] == "Inactive" and row["inactive_reason"] == "4 failed attempts"
    assert fresh_tenant.api("GET", f"{HOOKS}/{key}").json()["status"] == "Inactive"
    # Inactive: changes are not even queued.
    hooked.touch_contacts(fresh_tenant.app, ids=[2])
    time.sleep(1)
    assert hooked.hooks(fresh_tenant.app)[0]["queued_events"] == 0
    assert len(receiver.deliveries()) == 4
    # A successful /verify brings it back; deliveries resume.
    receiver.status = 200
    assert fresh_tenant.api("POST", f"{HOOKS}/{key}/verify").json()["status"] == "Verified"
    hooked.touch_contacts(fresh_tenant.app, ids=[3])
    assert receiver.wait_for_ids([3])
    assert receiver.object_ids() == [1, 1, 1, 1, 3]


def test_a_410_makes_the_subscription_inactive_at_once(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    receiver.status = 410
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    [delivery] = settled(hooked, fresh_tenant.app)
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    [row] = hooked.hooks(fresh_tenant.app)
    assert row["status"] == "Inactive" and row["inactive_reason"] == "410 Gone"


def test_3xx_is_success_and_4xx_other_than_410_is_a_failure(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url, "contact.edit")
    receiver.statuses.extend([302, 404])
    hooked.touch_contacts(fresh_tenant.app, ids=[1])
    settled(hooked, fresh_tenant.app)
    hooked.touch_contacts(fresh_tenant.app, ids=[2])
    first, second = settled(hooked, fresh_tenant.app)
    assert (first["state"], first["attempts"]) == ("delivered", 1)
    assert (second["state"], second["attempts"]) == ("delivered", 2)
    assert [a["status"] for a in _attempts(second)] == [404, 200]


def test_no_answer_in_time_is_a_failure_and_holds_up_nobody_else(hooked, receiver):
    slow_tenant, quick_tenant = new_tenant(hooked), new_tenant(hooked)
    hooked.set_settings(hook_timeout_seconds=4)
    with serving(Receiver()) as slow:
        slow.sleep = 7
        subscribe(slow_tenant, slow.url, "contact.edit")
        subscribe(quick_tenant, receiver.url, "contact.edit")
        hooked.touch_contacts(slow_tenant.app, ids=[1])
        assert slow.wait_for(lambda r: len(r.deliveries()) == 1)
        hooked.touch_contacts(quick_tenant.app, ids=[1])
        assert receiver.wait_for_ids([1])
        # The quick receiver was served while the slow one still held its first attempt.
        [waiting] = hooked.deliveries(tenant=slow_tenant.app)
        assert waiting["state"] == "sending" and waiting["attempts"] == 0
        hooked.set_settings(hook_timeout_seconds=0.5)
        slow.sleep = 1
        assert slow.wait_for(lambda r: len(r.deliveries()) == 2, timeout=30)
        [delivery] = hooked.deliveries(tenant=slow_tenant.app)
        first = _attempts(delivery)[0]
        assert (first["outcome"], first["error"], first["status"]) == ("failed", "timeout", None)
        assert first["elapsed_ms"] >= 4000
        hooked.set_settings(hook_attempts=2)
        [delivery] = settled(hooked, slow_tenant.app)
    assert delivery["state"] == "failed"
    assert hooked.hooks(slow_tenant.app)[0]["status"] == "Inactive"
    assert hooked.hooks(quick_tenant.app)[0]["status"] == "Verified"


def test_queued_changes_survive_a_restart(tmp_path, receiver):
    env = {**HOOK_ENV, "SANDBOX_HOOK_FIRST_DELAY_MIN_SECONDS": "3",
           "SANDBOX_HOOK_FIRST_DELAY_MAX_SECONDS": "3"}  # fmt: skip
    with run_sandbox(tmp_path, env=env) as server:
        tenant = new_tenant(server)
        subscribe(tenant, receiver.url, "contact.edit")
        server.touch_contacts(tenant.app, ids=[1, 2])
        server.stop()
        assert receiver.deliveries() == []
        server.start()
        assert receiver.wait_for_ids([1, 2])
        assert receiver.object_ids() == [1, 2]
