"""A hundred tenants, three subscriptions each, steady edits: everything arrives, in time."""

import time
from collections import Counter
from datetime import datetime

from tests.sandbox.conftest import new_tenant
from tests.sandbox.hook_helpers import subscribe

TENANTS = 100
RATE = 2  # changes per second per tenant
SECONDS = 4


def test_a_hundred_tenants_with_steady_edits_get_every_change(hooked, receiver):
    hooked.set_settings(hook_first_delay_min_seconds=1, hook_first_delay_max_seconds=2)
    tenants = [new_tenant(hooked, contacts=30) for _ in range(TENANTS)]
    for tenant in tenants:
        subscribe(tenant, f"{receiver.url}/{tenant.app}")
    assert len(receiver.confirmations()) == 3 * TENANTS
    for tenant in tenants:
        hooked.play(tenant.app, rate=RATE, duration=SECONDS, adds=1, edits=2, deletes=1)
    time.sleep(SECONDS)
    players = {}
    deadline = time.monotonic() + 120
    while len(players) < TENANTS and time.monotonic() < deadline:
        for tenant in tenants:
            if tenant.app not in players:
                [player] = hooked.players(tenant.app)
                if player["state"] == "finished":
                    players[tenant.app] = player
        time.sleep(1)
    assert len(players) == TENANTS
    expected = Counter()
    for app, player in players.items():
        assert player["played"] == RATE * SECONDS
        expected[app, "contact.add"] = player["added"]
        expected[app, "contact.edit"] = player["edited"]
        expected[app, "contact.delete"] = player["deleted"]

    def got() -> Counter:
        counts = Counter()
        for received in receiver.deliveries():
            body = received.json()
            app = received.path.rsplit("/", 1)[1]
            counts[app, body["event_key"]] += len(body["object_keys"])
        return counts

    assert receiver.wait_for(lambda _: got() == +expected, timeout=120), got() - expected
    # Never before the shortest delay; late only by what a busy machine adds.
    latencies = [
        received.at - _epoch(key["timestamp"])
        for received in receiver.deliveries()
        for key in received.json()["object_keys"]
    ]
    assert min(latencies) >= 1 - 0.002
    assert max(latencies) < 2 + 30
    statuses = Counter(h["status"] for h in hooked.hooks() if h["tenant"] in players)
    assert statuses == {"Verified": 3 * TENANTS}
    assert all(d["state"] == "delivered" for d in hooked.deliveries(limit=10_000)
               if d["tenant"] in players)  # fmt: skip


def _epoch(v1_time: str) -> float:
    return datetime.strptime(v1_time, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
