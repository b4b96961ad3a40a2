"""Fixtures for contact sync: a connection to a tenant of the test's own, a run driver."""

import pytest
import requests

from webapp.sync import flows, worker
from webapp.sync.models import Contact, SyncRun


@pytest.fixture
def enqueued(monkeypatch):
    """Record run ids instead of sending them to the broker (tests drive the runs themselves)."""
    sent: list[int] = []
    monkeypatch.setattr(flows, "enqueue", lambda run_id, countdown=0: sent.append(run_id))
    return sent


@pytest.fixture
def sync_settings(settings):
    """Small pages and quick retries, so a few hundred contacts make several pages."""
    settings.SYNC_PAGE_SIZE = 50
    settings.SYNC_PAGE_BACKOFF_SECONDS = 0.05
    settings.SYNC_RETRY_BASE_SECONDS = 0.05
    settings.SYNC_HEARTBEAT_SECONDS = 0.5
    settings.SYNC_PREFETCH = True  # the overlapped path, even on SQLite
    return settings


def drive(run_id: int, *, rounds: int = 50) -> SyncRun:
    """Work a run in this process the way the task would, slice after slice, until it ends."""
    for _ in range(rounds):
        outcome = worker.work_on_run(run_id=run_id)
        if outcome in (worker.Outcome.FINISHED, worker.Outcome.NOT_CLAIMED):
            break
    return SyncRun.objects.get(pk=run_id)


def keap_ids(connection) -> list[int]:
    return list(
        Contact.objects.filter(connection=connection)
        .order_by("keap_id")
        .values_list("keap_id", flat=True)
    )


def list_calls(keap, tenant: str) -> dict[str, int]:
    """Calls the sandbox saw for the tenant's contact lists, by endpoint."""
    endpoints = keap.counts()["tenants"].get(tenant, {})
    return {n: e["calls"] for n, e in endpoints.items() if n in ("contacts_v1", "contacts_v2")}


def access_token(keap, tenant: str) -> str:
    return keap.issue_tokens(app=tenant)["access_token"]


def delete_in_keap(keap, tenant: str, ids: list[int]) -> None:
    token = access_token(keap, tenant)
    for keap_id in ids:
        response = requests.delete(
            f"{keap.url}/crm/rest/v2/contacts/{keap_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 204, response.text
