"""REST hook subscriptions (v1): every operation, confirmation, ownership, bad input, metering."""

import pytest
import requests

from tests.loopback import serving
from tests.sandbox.conftest import Api, new_tenant
from tests.sandbox.openapi import V1, validate
from tests.sandbox.receiver import Receiver
from tests.sandbox.server import bearer

HOOKS = "/crm/rest/v1/hooks"
ITEM = "/crm/rest/v1/hooks/{key}"
REST_HOOK = {"key", "eventKey", "hookUrl", "status"}


def _subscribe(api, url: str, event_key: str = "contact.add") -> dict:
    response = api("POST", HOOKS, json={"eventKey": event_key, "hookUrl": url})
    assert response.status_code == 200, response.text
    body = response.json()
    validate(V1, HOOKS, "post", 200, body)
    assert set(body) == REST_HOOK
    return body


def test_event_keys_are_listed_as_documented(fresh_tenant):
    response = fresh_tenant.api("GET", f"{HOOKS}/event_keys")
    assert response.status_code == 200
    validate(V1, f"{HOOKS}/event_keys", "get", 200, response.json())
    assert {"contact.add", "contact.edit", "contact.delete"} <= set(response.json())
    assert "contactGroup.applied" in response.json()


def test_create_confirms_with_a_fresh_secret_and_an_echo_verifies(fresh_tenant, receiver):
    body = _subscribe(fresh_tenant.api, receiver.url)
    assert body["status"] == "Verified"
    assert body["eventKey"] == "contact.add" and body["hookUrl"] == receiver.url
    [confirmation] = receiver.confirmations()
    assert len(confirmation.secret) >= 32
    assert confirmation.body == b""
    listed = fresh_tenant.api("GET", HOOKS)
    assert listed.status_code == 200
    validate(V1, HOOKS, "get", 200, listed.json())
    assert listed.json() == [body]
    one = fresh_tenant.api("GET", f"{HOOKS}/{body['key']}")
    validate(V1, ITEM, "get", 200, one.json())
    assert one.json() == body


@pytest.mark.parametrize(
    "answer",
    [
        {"echo": False},
        {"echo_value": "not-the-secret"},
        {"confirm_status": 202},
        {"confirm_status": 204},
        {"confirm_status": 500},
    ],
)
def test_a_receiver_that_does_not_echo_with_a_200_leaves_it_unverified(
    fresh_tenant, receiver, answer
):
    for name, value in answer.items():
        setattr(receiver, name, value)
    body = _subscribe(fresh_tenant.api, receiver.url)
    assert body["status"] == "Unverified"
    assert len(receiver.confirmations()) == 1


def test_an_unreachable_hook_url_is_created_unverified(fresh_tenant, hooked):
    with serving(Receiver()) as gone:
        url = gone.url
    body = _subscribe(fresh_tenant.api, url)
    assert body["status"] == "Unverified"
    [row] = hooked.hooks(fresh_tenant.app)
    assert row["last_confirmation"]["error"] == "unreachable"


def test_delayed_verify_with_the_secret_sent_verifies(fresh_tenant, receiver):
    receiver.echo = False
    key = _subscribe(fresh_tenant.api, receiver.url)["key"]
    secret = receiver.confirmations()[0].secret
    url = f"{HOOKS}/{key}/delayedVerify"
    wrong = fresh_tenant.api("POST", url, headers={"X-Hook-Secret": "guess"})
    assert wrong.status_code == 400 and set(wrong.json()) == {"message"}
    missing = fresh_tenant.api("POST", url)
    assert missing.status_code == 400
    assert fresh_tenant.api("GET", f"{HOOKS}/{key}").json()["status"] == "Unverified"
    response = fresh_tenant.api("POST", url, headers={"X-Hook-Secret": secret})
    assert response.status_code == 200
    validate(V1, f"{HOOKS}/{{key}}/delayedVerify", "post", 200, response.json())
    assert response.json()["status"] == "Verified"


def test_verify_runs_a_new_round_with_a_new_secret(fresh_tenant, receiver):
    receiver.echo = False
    key = _subscribe(fresh_tenant.api, receiver.url)["key"]
    first = receiver.confirmations()[0].secret
    still = fresh_tenant.api("POST", f"{HOOKS}/{key}/verify")
    assert still.status_code == 200 and still.json()["status"] == "Unverified"
    receiver.echo = True
    response = fresh_tenant.api("POST", f"{HOOKS}/{key}/verify")
    assert response.status_code == 200
    validate(V1, f"{HOOKS}/{{key}}/verify", "post", 200, response.json())
    assert response.json()["status"] == "Verified"
    secrets = [r.secret for r in receiver.confirmations()]
    assert len(secrets) == 3 and len(set(secrets)) == 3 and secrets[0] == first
    # Only the latest round's secret counts for delayedVerify.
    stale = fresh_tenant.api("POST", f"{HOOKS}/{key}/delayedVerify",
                             headers={"X-Hook-Secret": first})  # fmt: skip
    assert stale.status_code == 400


def test_update_changes_key_and_url_and_a_new_url_is_confirmed_again(fresh_tenant, receiver):
    key = _subscribe(fresh_tenant.api, receiver.url)["key"]
    same_url = fresh_tenant.api(
        "PUT", f"{HOOKS}/{key}", json={"eventKey": "contact.edit", "hookUrl": receiver.url}
    )
    assert same_url.status_code == 200
    validate(V1, ITEM, "put", 200, same_url.json())
    assert same_url.json() == {"key": key, "eventKey": "contact.edit", "hookUrl": receiver.url,
                               "status": "Verified"}  # fmt: skip
    assert len(receiver.confirmations()) == 1
    with serving(Receiver()) as other:
        other.echo = False
        moved = fresh_tenant.api(
            "PUT", f"{HOOKS}/{key}", json={"eventKey": "contact.edit", "hookUrl": other.url}
        ).json()
        assert moved["status"] == "Unverified" and moved["hookUrl"] == other.url
        assert len(other.confirmations()) == 1
        other.echo = True
        back = fresh_tenant.api(
            "PUT", f"{HOOKS}/{key}", json={"eventKey": "contact.delete", "hookUrl": receiver.url}
        ).json()
    assert back["status"] == "Verified" and back["eventKey"] == "contact.delete"


def test_delete_is_204_and_then_the_key_is_404(fresh_tenant, receiver):
    key = _subscribe(fresh_tenant.api, receiver.url)["key"]
    response = fresh_tenant.api("DELETE", f"{HOOKS}/{key}")
    assert response.status_code == 204 and response.content == b""
    gone = fresh_tenant.api("GET", f"{HOOKS}/{key}")
    assert gone.status_code == 404
    validate(V1, ITEM, "get", 404, gone.json())
    assert set(gone.json()) == {"message"}
    assert fresh_tenant.api("GET", HOOKS).json() == []


@pytest.mark.parametrize(
    ("method", "suffix", "kwargs"),
    [
        ("GET", "", {}),
        ("PUT", "", {"json": {"eventKey": "contact.edit", "hookUrl": "http://127.0.0.1:9/x"}}),
        ("DELETE", "", {}),
        ("POST", "/verify", {}),
        ("POST", "/delayedVerify", {"headers": {"X-Hook-Secret": "x"}}),
    ],
)
def test_unknown_and_other_callers_keys_are_404_and_change_nothing(
    hooked, fresh_tenant, receiver, method, suffix, kwargs
):
    key = _subscribe(fresh_tenant.api, receiver.url)["key"]
    neighbour = new_tenant(hooked)
    pat = Api(hooked.url, {"X-Keap-API-Key": hooked.create_api_key(fresh_tenant.app)})
    for api, target in ((fresh_tenant.api, "999999999"), (fresh_tenant.api, "abc"),
                        (neighbour.api, key), (pat, key)):  # fmt: skip
        response = api(method, f"{HOOKS}/{target}{suffix}", **kwargs)
        assert response.status_code == 404, (target, response.text)
        assert set(response.json()) == {"message"}
    assert neighbour.api("GET", HOOKS).json() == []
    assert pat("GET", HOOKS).json() == []
    [row] = hooked.hooks(fresh_tenant.app)
    assert (row["key"], row["eventKey"], row["status"]) == (key, "contact.add", "Verified")
    assert len(receiver.confirmations()) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"eventKey": "contact.add"},
        {"hookUrl": "http://127.0.0.1:9/x"},
        {"eventKey": "contact.explode", "hookUrl": "http://127.0.0.1:9/x"},
        {"eventKey": "", "hookUrl": "http://127.0.0.1:9/x"},
        {"eventKey": ["contact.add"], "hookUrl": "http://127.0.0.1:9/x"},
        {"eventKey": "contact.add", "hookUrl": "ftp://127.0.0.1/x"},
        {"eventKey": "contact.add", "hookUrl": "javascript:alert(1)"},
        {"eventKey": "contact.add", "hookUrl": "http:///no-host"},
        {"eventKey": "contact.add", "hookUrl": 42},
        {"eventKey": "contact.add", "hookUrl": "http://127.0.0.1:9/x", "status": "Verified"},
        ["contact.add"],
        "not json",
    ],
)
def test_bad_subscription_bodies_are_400_and_change_nothing(fresh_tenant, receiver, body):
    key = _subscribe(fresh_tenant.api, receiver.url)["key"]
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    created = fresh_tenant.api("POST", HOOKS, **kwargs)
    updated = fresh_tenant.api("PUT", f"{HOOKS}/{key}", **kwargs)
    for response in (created, updated):
        assert response.status_code == 400, response.text
        assert set(response.json()) == {"message"} and response.json()["message"]
    assert fresh_tenant.api("GET", HOOKS).json() == [
        {"key": key, "eventKey": "contact.add", "hookUrl": receiver.url, "status": "Verified"}
    ]
    assert len(receiver.confirmations()) == 1


def test_wrong_methods_are_405_with_v1_bodies(fresh_tenant):
    for method, path in (("DELETE", HOOKS), ("POST", f"{HOOKS}/event_keys"),
                         ("GET", f"{HOOKS}/1/verify"), ("PUT", f"{HOOKS}/1/delayedVerify")):  # fmt: skip
        response = fresh_tenant.api(method, path)
        assert response.status_code == 405, (method, path)
        assert set(response.json()) == {"message"}


def test_hook_calls_are_authenticated_and_metered_like_any_call(hooked, fresh_tenant, receiver):
    assert requests.get(f"{hooked.url}{HOOKS}", timeout=5).status_code == 401
    bad = requests.get(f"{hooked.url}{HOOKS}", headers=bearer("nope"), timeout=5)
    assert (
        bad.json()["fault"]["detail"]["errorcode"] == "keymanagement.service.invalid_access_token"
    )
    key = _subscribe(fresh_tenant.api, receiver.url)["key"]
    listed = fresh_tenant.api("GET", HOOKS)
    assert listed.headers["x-keap-tenant-id"] == f"{fresh_tenant.app}.infusionsoft.com"
    used = int(listed.headers["x-keap-product-quota-used"])
    fresh_tenant.api("GET", f"{HOOKS}/event_keys")
    fresh_tenant.api("POST", f"{HOOKS}/{key}/verify")
    after = fresh_tenant.api("GET", f"{HOOKS}/{key}")
    assert int(after.headers["x-keap-product-quota-used"]) == used + 3
    traffic = hooked.counts()["tenants"][fresh_tenant.app]
    assert traffic["hooks_v1"]["calls"] == 2
    assert traffic["hook_event_keys_v1"]["calls"] == 1
    assert traffic["hook_verify_v1"]["calls"] == 1
    assert traffic["hook_v1"]["calls"] == 1
    hooked.set_limits(app_limit_per_second=0)
    throttled = fresh_tenant.api("POST", HOOKS, json={"eventKey": "contact.edit",
                                                      "hookUrl": receiver.url})  # fmt: skip
    assert throttled.status_code == 429
    assert len(hooked.hooks(fresh_tenant.app)) == 1
    assert hooked.counts()["tenants"][fresh_tenant.app]["hooks_v1"]["throttled"] == 1
