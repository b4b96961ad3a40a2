"""Steps the REST hook tests share: subscribing a tenant, waiting until its deliveries settle."""

import time

HOOKS = "/crm/rest/v1/hooks"


def subscribe(tenant, url: str, *event_keys: str) -> dict[str, str]:
    """Verified subscriptions for each event key; returns their keys by event key."""
    keys = {}
    for event_key in event_keys or ("contact.add", "contact.edit", "contact.delete"):
        body = tenant.api("POST", HOOKS, json={"eventKey": event_key, "hookUrl": url}).json()
        assert body["status"] == "Verified", body
        keys[event_key] = body["key"]
    return keys


def settled(server, tenant: str, timeout: float = 30) -> list[dict]:
    """Wait until nothing of the tenant's waits to be sent; return its deliveries."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hooks = server.hooks(tenant)
        if not any(h["queued_events"] or h["pending_deliveries"] for h in hooks):
            return server.deliveries(tenant=tenant)
        time.sleep(0.1)
    raise AssertionError(f"deliveries of {tenant} still pending: {server.hooks(tenant)}")
