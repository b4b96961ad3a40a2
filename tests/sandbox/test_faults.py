"""Injected faults: 5xx, latency, timeouts, malformed bodies; per tenant, by count or chance."""

import time

import pytest
import requests

from tests.sandbox.conftest import Api
from tests.sandbox.server import bearer

USERINFO = "/crm/rest/v1/oauth/connect/userinfo"


@pytest.fixture(autouse=True)
def _no_faults(sandbox):
    sandbox.clear_faults()
    yield
    sandbox.clear_faults()


def test_error_for_the_next_n_requests_then_normal(api, sandbox):
    sandbox.inject("error", count=2, status=503)
    statuses = [api("GET", USERINFO).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert sandbox.faults()[0]["remaining"] == 0


def test_injected_500_uses_the_api_versions_body(api, sandbox):
    sandbox.inject("error", count=2, status=500)
    v1 = api("GET", USERINFO)
    v2 = api("GET", "/crm/rest/v2/oauth/connect/userinfo")
    assert v1.status_code == 500 and list(v1.json()) == ["message"]
    assert v2.status_code == 500 and v2.json()["status"] == "INTERNAL"
    # Injected errors still count against the quota, and still carry the headers.
    assert "x-keap-product-quota-used" in v1.headers


def test_faults_can_target_one_tenant_and_a_path(api, sandbox, issue_tokens):
    sandbox.inject("error", tenant="cd456", count=5, status=502)
    sandbox.inject("error", path_prefix="/crm/rest/v2/", count=5, status=503)
    other = Api(sandbox.url, bearer(issue_tokens(app="cd456")["access_token"]))
    assert api("GET", USERINFO).status_code == 200
    assert other("GET", USERINFO).status_code == 502
    assert api("GET", "/crm/rest/v2/businessProfile").status_code == 503


def test_probability_one_always_and_zero_never(api, sandbox):
    fault = sandbox.inject("error", probability=0.0, status=503)
    assert all(api("GET", USERINFO).status_code == 200 for _ in range(5))
    sandbox.clear_faults()
    sandbox.inject("error", probability=1.0, status=503)
    assert all(api("GET", USERINFO).status_code == 503 for _ in range(5))
    assert fault["probability"] == 0.0


def test_latency(api, sandbox):
    sandbox.inject("latency", count=1, ms=400)
    started = time.monotonic()
    assert api("GET", USERINFO).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_timeout_answers_504_after_holding_the_request(api, sandbox):
    sandbox.inject("timeout", count=1, seconds=0.3)
    started = time.monotonic()
    response = api("GET", USERINFO)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 504
    assert response.json()["fault"]["detail"]["errorcode"].endswith("GatewayTimeout")


def test_timeout_can_drop_the_connection(api, sandbox):
    sandbox.inject("timeout", count=1, seconds=0.1, then="close")
    with pytest.raises(requests.ConnectionError):
        api("GET", USERINFO)


def test_timeout_after_processing_still_achieves_the_goal(api, sandbox):
    contact = api("POST", "/crm/rest/v1/contacts",
                  json={"email_addresses": [{"email": "t@example.test", "field": "EMAIL1"}]}).json()  # fmt: skip
    sandbox.clear_goal_achievements()
    sandbox.inject("timeout", count=1, seconds=0.1, processed=True)
    response = api(
        "POST", "/crm/rest/v1/campaigns/goals/ab123/purchased", json={"contact_id": contact["id"]}
    )
    assert response.status_code == 504
    assert len(sandbox.goal_achievements()) == 1


def test_malformed_bodies(api, sandbox):
    sandbox.inject("malformed", count=1, mode="truncated")
    truncated = api("GET", USERINFO)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    sandbox.inject("malformed", count=1, mode="html")
    html = api("GET", USERINFO)
    assert html.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "earthquake", "count": 1},
        {"kind": "error", "status": 503},
        {"kind": "error", "count": 1, "probability": 0.5},
        {"kind": "error", "count": 0},
        {"kind": "error", "count": 1, "status": 404},
        {"kind": "error", "count": 1, "tenant": "zz999"},
        {"kind": "latency", "count": 1, "ms": "slow"},
        {"kind": "timeout", "count": 1, "then": "explode"},
    ],
)
def test_bad_fault_requests_are_refused(sandbox, body):
    response = requests.post(f"{sandbox.url}/sandbox/api/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert sandbox.faults() == []
