"""With 100,000 contacts, v1 and v2 paging return every contact exactly once, and the
last-updated filters return exactly the contacts changed after a moment."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.sandbox.conftest import ROOMY, Api
from tests.sandbox.server import SandboxServer, bearer

TOTAL = 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A sandbox of its own with 100,000 seeded contacts in ab123, seeded once (bulk)."""
    server = SandboxServer(
        tmp_path_factory.mktemp("big-sandbox"), env={"SANDBOX_SEED_CONTACTS": "0"}
    )
    server.seed_offline(TOTAL, ["ab123"])
    server.start()
    try:
        server.set_limits(**ROOMY)
        yield server, Api(server.url, bearer(server.issue_tokens()["access_token"]))
    finally:
        server.stop()


def test_v1_and_v2_paging_each_return_every_contact_once(big):
    # Both walks at once: the sandbox has two workers, and this keeps the test short.
    with ThreadPoolExecutor(max_workers=2) as pool:
        v1 = pool.submit(_walk_v1, big[1])
        v2 = pool.submit(_walk_v2, big[1])
        v1_ids, v2_ids = v1.result(), v2.result()
    assert len(v1_ids) == TOTAL
    assert set(v1_ids) == set(range(1, TOTAL + 1))
    assert len(v2_ids) == TOTAL
    assert set(v2_ids) == {str(i) for i in range(1, TOTAL + 1)}


def _walk_v1(api) -> list[int]:
    seen: list[int] = []
    offset = 0
    while True:
        body = api("GET", "/crm/rest/v1/contacts", params={"limit": 1000, "offset": offset}).json()
        assert body["count"] == TOTAL
        if not body["contacts"]:
            break
        seen.extend(contact["id"] for contact in body["contacts"])
        offset += 1000
    return seen


def _walk_v2(api) -> list[str]:
    seen: list[str] = []
    params = {"page_size": 1000, "order_by": "update_time asc", "fields": "given_name"}
    while True:
        body = api("GET", "/crm/rest/v2/contacts", params=params).json()
        seen.extend(contact["id"] for contact in body["contacts"])
        if not body.get("next_page_token"):
            break
        params["page_token"] = body["next_page_token"]
    return seen


def test_since_and_start_update_time_return_exactly_the_changed_contacts(big):
    server, api = big
    mark = server.now_ms()
    server.advance_clock(0.01)
    touched = server.touch_contacts("ab123", count=137, seed=7)
    assert touched["updated_ms"] > mark
    since = _iso(mark)
    v1 = api("GET", "/crm/rest/v1/contacts",
             params={"since": since, "limit": 1000, "order": "last_updated"}).json()  # fmt: skip
    assert v1["count"] == 137
    assert sorted(c["id"] for c in v1["contacts"]) == touched["ids"]
    v2 = api("GET", "/crm/rest/v2/contacts",
             params={"filter": f"start_update_time=={since}", "page_size": 1000}).json()  # fmt: skip
    assert sorted(int(c["id"]) for c in v2["contacts"]) == touched["ids"]
    assert "next_page_token" not in v2


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
