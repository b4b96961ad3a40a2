"""Edits made in Keap's own web app, played once or at a steady rate, and deleting contacts."""

import time

import pytest
import requests

from tests.sandbox.conftest import new_tenant
from tests.sandbox.hook_helpers import settled, subscribe


def _wait_for_state(server, app: str, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [player] = server.players(app)
        if player["state"] == state:
            return player
        time.sleep(0.1)
    raise AssertionError(f"player of {app} not {state}: {server.players(app)}")


def test_a_player_makes_changes_at_a_rate_for_a_duration(hooked, fresh_tenant, receiver):
    subscribe(fresh_tenant, receiver.url)
    started = hooked.play(fresh_tenant.app, rate=20, duration=1.5, adds=2, edits=2, deletes=1)
    assert started["player"]["state"] == "running"
    player = _wait_for_state(hooked, fresh_tenant.app, "finished")
    assert player["played"] == 30
    assert player["added"] + player["edited"] + player["deleted"] + player["skipped"] == 30
    assert player["added"] and player["edited"]
    settled(hooked, fresh_tenant.app)
    assert len(receiver.object_ids("contact.add")) == player["added"]
    assert len(receiver.object_ids("contact.edit")) == player["edited"]
    assert len(receiver.object_ids("contact.delete")) == player["deleted"]


def test_a_player_without_a_duration_runs_until_stopped(hooked, fresh_tenant):
    hooked.play(fresh_tenant.app, rate=10, edits=1)
    deadline = time.monotonic() + 30
    while hooked.players(fresh_tenant.app)[0]["played"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    stopped = hooked.stop_players(fresh_tenant.app)
    assert stopped["stopped"] == 1
    [player] = hooked.players(fresh_tenant.app)
    assert player["state"] == "stopped" and player["played"] >= 3
    time.sleep(0.5)
    assert hooked.players(fresh_tenant.app)[0]["played"] == player["played"]
    assert player["edited"] == player["played"]


def test_a_player_skips_edits_when_there_is_nothing_left(hooked):
    empty = new_tenant(hooked, contacts=0)
    hooked.play(empty.app, rate=20, duration=0.5, deletes=1)
    player = _wait_for_state(hooked, empty.app, "finished")
    assert player["skipped"] == player["played"] == 10 and player["deleted"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"adds": -1},
        {"adds": "3"},
        {"edits": 1000},
        {"rate": 0, "adds": 1},
        {"rate": 5},
        {"duration": 5, "adds": 1},
        {"rate": "fast", "adds": 1},
        {"adds": 1, "seed": "x"},
    ],
)
def test_bad_play_requests_are_refused(hooked, fresh_tenant, body):
    response = requests.post(
        f"{hooked.url}/sandbox/api/tenants/{fresh_tenant.app}/contacts/play", json=body, timeout=5
    )
    assert response.status_code == 400, response.text
    assert hooked.players(fresh_tenant.app) == []
    total = fresh_tenant.api("GET", "/crm/rest/v1/contacts", params={"limit": 1}).json()["count"]
    assert total == 20


def test_controls_for_an_unknown_tenant_are_404(hooked):
    for method, path in (("POST", "contacts/play"), ("GET", "contacts/play"),
                         ("POST", "contacts/delete"), ("GET", "hooks")):  # fmt: skip
        response = requests.request(method, f"{hooked.url}/sandbox/api/tenants/zz999/{path}",
                                    json={"adds": 1}, timeout=5)  # fmt: skip
        assert response.status_code == 404


def test_delete_contacts_by_count_or_ids(hooked, fresh_tenant):
    deleted = hooked.delete_contacts(fresh_tenant.app, count=3, seed=1)
    assert len(deleted) == 3
    assert hooked.delete_contacts(fresh_tenant.app, ids=[*deleted, 20]) == [20]
    total = fresh_tenant.api("GET", "/crm/rest/v1/contacts", params={"limit": 1}).json()["count"]
    assert total == 16
    for body in ({"count": 17}, {"ids": ["1"]}, {"ids": 5}, {}):
        response = requests.post(
            f"{hooked.url}/sandbox/api/tenants/{fresh_tenant.app}/contacts/delete",
            json=body,
            timeout=5,
        )
        assert response.status_code == 400, body
