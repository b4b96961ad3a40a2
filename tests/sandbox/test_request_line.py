"""Long request lines, as a sync sends them (`filter=contact_ids==...` with hundreds of ids):
what fits Keap's gateway (7 KB, Apigee's limit) is served, what does not gets Apigee's 414
TooBigLine fault before authentication, and gunicorn's own limit sits above both."""

import requests

from tests.sandbox.openapi import V2_2026, validate

PATH = "/crm/rest/v2/contacts"
TOO_BIG = {
    "fault": {
        "faultstring": "request line size exceeding 7,168",
        "detail": {"errorcode": "protocol.http.TooBigLine"},
    }
}


def _target(line_size: int) -> str:
    """A request target asking for 300 contacts by id, padded with a parameter the v2 list
    ignores, so that `GET <target> HTTP/1.1` is exactly `line_size` bytes."""
    ids = "%2C".join(str(n) for n in range(1, 301))
    target = f"{PATH}?filter=contact_ids%3D%3D{ids}&pad="
    return target + "a" * (line_size - len(f"GET {target} HTTP/1.1"))


def _get(api, line_size: int, **kwargs):
    return api("GET", _target(line_size), **kwargs)


def _line_size(response: requests.Response) -> int:
    request = response.request
    return len(f"{request.method} {request.path_url} HTTP/1.1".encode())


def test_a_line_past_gunicorns_old_4094_bytes_is_served(api):
    response = _get(api, 5000)
    assert _line_size(response) == 5000
    assert response.status_code == 200
    validate(V2_2026, PATH, "get", 200, response.json())


def test_a_line_of_exactly_7168_bytes_is_served_and_one_more_is_keaps_414(api):
    fits = _get(api, 7168)
    assert _line_size(fits) == 7168 and fits.status_code == 200
    refused = _get(api, 7169)
    assert _line_size(refused) == 7169
    assert refused.status_code == 414
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.json() == TOO_BIG


def test_the_414_comes_before_authentication_and_uses_no_quota(sandbox):
    before = sandbox.counts()["calls"]
    response = requests.get(f"{sandbox.url}{_target(7500)}", timeout=10)
    assert response.status_code == 414 and response.json() == TOO_BIG
    assert sandbox.counts()["calls"] == before


def test_the_token_endpoint_has_the_same_limit(sandbox):
    response = requests.post(f"{sandbox.url}/token?x={'a' * 7200}", data={}, timeout=10)
    assert response.status_code == 414 and response.json() == TOO_BIG


def test_past_gunicorns_8190_bytes_gunicorn_still_refuses(sandbox):
    response = requests.get(f"{sandbox.url}{PATH}?pad={'a' * 8300}", timeout=10)
    assert response.status_code in (400, 414)
