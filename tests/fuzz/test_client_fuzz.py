"""Hostile answers fed through the Keap client: every call returns a typed result or a typed error.

The Keap sandbox answers like Keap; it cannot send arbitrary bytes on demand. So these tests run a
loopback HTTP server of their own that answers each request with the next programmed reply (status,
headers, body, and how the body is framed), written byte for byte to the socket: truncated and
malformed JSON, wrong types everywhere, bodies of several megabytes, HTML and XML where JSON belongs
and JSON where XML-RPC belongs, invalid UTF-8, garbage quota headers and Retry-After values, odd
statuses and redirects, bodies cut short or badly chunked. Every operation KeapClient offers gets
hundreds of such answers; the only acceptable outcomes are its typed result or a KeapError.

Hypothesis is derandomized (CI sees the same answers every run) and the client's waits are cut to
milliseconds, so the whole run stays fast.
"""

import gzip
import itertools
import json
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.loopback import serving
from tests.sandbox.server import free_port
from webapp.keap import calls as keap_calls
from webapp.keap.calls import StaticToken
from webapp.keap.client import KeapClient
from webapp.keap.errors import KeapError
from webapp.keap.models import DeveloperApp
from webapp.keap.results import AccountProfile, Contact, ContactPage, GoalResult, UserInfo
from webapp.limiter import Lane

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 200
HTTP_TIMEOUT_SECONDS = 1.0


# --- A loopback server that answers whatever it is told to ---------------------------------------


@dataclass(frozen=True)
class Reply:
    """One programmed answer. `framing`: how the body goes on the wire.

    length: a correct Content-Length; close: none, the end of the body is the connection closing;
    short: a Content-Length longer than the body, then close; chunked: valid chunks;
    bad_chunks: a chunk size that is not hex; raw: `body` is the whole response, status line included.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    framing: str = "length"

    def wire(self) -> bytes:
        if self.framing == "raw":
            return self.body
        head = [f"HTTP/1.1 {self.status} Fuzz".encode(), b"Connection: close"]
        head += [f"{name}: {value}".encode("latin-1") for name, value in self.headers]
        body = self.body
        if self.framing == "length":
            head.append(f"Content-Length: {len(body)}".encode())
        elif self.framing == "short":
            head.append(f"Content-Length: {len(body) + 100}".encode())
        elif self.framing in ("chunked", "bad_chunks"):
            head.append(b"Transfer-Encoding: chunked")
            size = b"zz" if self.framing == "bad_chunks" else f"{len(body):x}".encode()
            body = size + b"\r\n" + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
        return b"\r\n".join(head) + b"\r\n\r\n" + body


class _Handler(BaseHTTPRequestHandler):
    server: "FuzzServer"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        reply = self.server.next_reply()
        try:
            self.wfile.write(reply.wire())
            self.wfile.flush()
        except OSError:
            pass  # the client gave up first (a timeout): nothing to do
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: thousands of requests


class FuzzServer(ThreadingHTTPServer):
    """Serves the programmed replies in order; the last one is repeated for any retry after it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: list[Reply] = [Reply()]
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def program(self, replies: list[Reply]) -> None:
        with self._lock:
            self.replies = list(replies)

    def next_reply(self) -> Reply:
        with self._lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture(scope="module")
def server():
    with serving(FuzzServer()) as httpd:
        yield httpd


@pytest.fixture
def make_client(server, settings, monkeypatch):
    """A factory of clients for fresh developer apps (so one example's 429 pause or garbage quota
    never holds up the next), with every wait in the client cut to milliseconds."""
    settings.KEAP_HTTP_TIMEOUT_SECONDS = HTTP_TIMEOUT_SECONDS
    monkeypatch.setattr(keap_calls, "BACKOFF_BASE_SECONDS", 0.001)
    monkeypatch.setattr(keap_calls, "BACKOFF_CAP_SECONDS", 0.005)
    monkeypatch.setattr(keap_calls, "SPIKE_PAUSE_SECONDS", 0.01)
    # A pause longer than this (a believed Retry-After, a quota day) ends the call as KeapThrottled
    # at once instead of waiting it out.
    monkeypatch.setattr(
        keap_calls, "ACQUIRE_TIMEOUT_SECONDS", {Lane.INTERACTIVE: 0.05, Lane.BULK: 0.05}
    )
    numbers = itertools.count()

    def make(goal_api: str = DeveloperApp.GoalApi.REST_V1) -> KeapClient:
        n = next(numbers)
        # Not saved: the client needs only the app's id, URL, goal API and limits (all unlimited).
        app = DeveloperApp(name="fuzz", client_id=f"fuzz-app-{n}", api_url=f"{server.url}/crm")
        app.goal_api = goal_api
        return KeapClient(app=app, tokens=StaticToken("fuzz-token"), tenant=f"fz{n}")

    return make


# --- The operations and what each must return ------------------------------------------------------


def _is_contact(value: Any) -> bool:
    return (
        isinstance(value, Contact)
        and type(value.id) is int
        and isinstance(value.email, str)  # the property must not blow up either
        and all(type(tag) is int for tag in value.tag_ids)
        and all(isinstance(item, dict) for item in value.email_addresses + value.phone_numbers)
        and isinstance(value.given_name, str)
        and isinstance(value.family_name, str)
        and isinstance(value.company, str)
        and (value.updated_at is None or isinstance(value.updated_at, datetime))
    )


def _is_page(value: Any) -> bool:
    return (
        isinstance(value, ContactPage)
        and all(_is_contact(c) for c in value.contacts)
        and (value.total is None or type(value.total) is int)
        and isinstance(value.next_page_token, str)
    )


def _is_goals(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(r, GoalResult)
        and isinstance(r.success, bool)
        and isinstance(r.message, str)
        and (r.campaign_id is None or type(r.campaign_id) is int)
        and (r.goal_id is None or type(r.goal_id) is int)
        for r in value
    )


def _strings(value: Any, names: tuple[str, ...]) -> bool:
    return all(isinstance(getattr(value, name), str) for name in names)


FIELDS = {"given_name": "Zoë", "email_addresses": [{"email": "zoe@example.com", "field": "EMAIL1"}]}


@dataclass(frozen=True)
class Operation:
    call: Callable[[KeapClient], Any]
    valid: Callable[[Any], bool]
    goal_api: str = DeveloperApp.GoalApi.REST_V1
    xml: bool = False  # XML-RPC: its well-formed answer is XML, not JSON
    shape: dict[str, Any] = field(default_factory=dict)  # a well-formed answer, to mutate


CONTACT_V1 = {
    "id": 7, "given_name": "Ada", "family_name": "Lovelace", "company_name": "Engines",
    "email_addresses": [{"email": "ada@example.com", "field": "EMAIL1"}],
    "phone_numbers": [{"number": "555", "field": "PHONE1"}], "tag_ids": [1, 2],
    "company": {"id": 3, "company_name": "Engines"}, "last_updated": "2022-09-29T00:42:42.000+0000",
}  # fmt: skip
CONTACT_V2 = {**CONTACT_V1, "id": "7", "update_time": "2024-05-01T10:00:00Z"}
GOAL_V1 = [{"campaign_id": 1, "goal_id": 2, "success": True, "message": "ok"}]

OPERATIONS: dict[str, Operation] = {
    "userinfo": Operation(
        lambda k: k.userinfo(),
        lambda v: (
            isinstance(v, UserInfo)
            and _strings(v, ("email", "given_name", "family_name", "sub"))
            and (v.global_user_id is None or type(v.global_user_id) is int)
        ),
        shape={"email": "a@b.c", "given_name": "A", "global_user_id": 12, "sub": "12"},
    ),
    "account_profile": Operation(
        lambda k: k.account_profile(),
        lambda v: (
            isinstance(v, AccountProfile)
            and _strings(v, ("name", "email", "phone", "website", "time_zone"))
        ),
        shape={"name": "Acme", "email": "a@b.c", "phone": "1", "time_zone": "UTC"},
    ),
    "list_contacts_v1": Operation(
        lambda k: k.list_contacts_v1(limit=10),
        _is_page,
        shape={"contacts": [CONTACT_V1, CONTACT_V1], "count": 2, "next": "x"},
    ),
    "list_contacts_v2": Operation(
        lambda k: k.list_contacts_v2(page_size=10, page_token="abc"),
        _is_page,
        shape={"contacts": [CONTACT_V2], "next_page_token": "abc"},
    ),
    "get_contact_v1": Operation(lambda k: k.get_contact(7), _is_contact, shape=CONTACT_V1),
    "get_contact_v2": Operation(
        lambda k: k.get_contact(7, version=2), _is_contact, shape=CONTACT_V2
    ),
    "create_contact_v1": Operation(
        lambda k: k.create_contact(FIELDS), _is_contact, shape=CONTACT_V1
    ),
    "upsert_contact_v1": Operation(
        lambda k: k.create_contact(FIELDS, duplicate_option="Email"), _is_contact, shape=CONTACT_V1
    ),
    "create_contact_v2": Operation(
        lambda k: k.create_contact(FIELDS, version=2), _is_contact, shape=CONTACT_V2
    ),
    "update_contact_v1": Operation(
        lambda k: k.update_contact(7, {"family_name": "Å"}), _is_contact, shape=CONTACT_V1
    ),
    "update_contact_v2": Operation(
        lambda k: k.update_contact(7, {"family_name": "Å"}, version=2),
        _is_contact,
        shape=CONTACT_V2,
    ),
    "achieve_goal_v1": Operation(
        lambda k: k.achieve_goal(integration="ab123", call_name="paid", contact_id=7),
        _is_goals,
        shape={"results": GOAL_V1},  # REST v1 answers the bare list; see _well_formed
    ),
    "achieve_goal_v2": Operation(
        lambda k: k.achieve_goal(integration="ab123", call_name="paid", contact_id=7),
        _is_goals,
        goal_api=DeveloperApp.GoalApi.REST_V2,
        shape={"results": [{"automation_id": 1, "goal_id": 2, "success": True, "message": "ok"}]},
    ),
    "achieve_goal_xmlrpc": Operation(
        lambda k: k.achieve_goal(integration="ab123", call_name="paid", contact_id=7),
        _is_goals,
        goal_api=DeveloperApp.GoalApi.XMLRPC,
        xml=True,
        shape={"results": [{"campaignId": 1, "goalId": 2, "success": True, "msg": "ok"}]},
    ),
}


# --- Generating replies --------------------------------------------------------------------------

JSON = (("Content-Type", "application/json"),)

KEYS = [
    "contacts", "count", "next", "next_page_token", "id", "email", "given_name", "family_name",
    "global_user_id", "sub", "name", "time_zone", "email_addresses", "phone_numbers", "tag_ids",
    "company", "company_name", "last_updated", "update_time", "results", "success", "message",
    "msg", "campaign_id", "automation_id", "campaignId", "goal_id", "goalId", "fault",
    "faultstring", "detail", "errorcode", "field",
]  # fmt: skip
ODD_STRINGS = [
    "", " ", "7", " 7 ", "1e3", "0x10", "1_000", "\u0661\u0662", "\uff17", "-0", "NaN", "Infinity", "null", "true",
    "9" * 400, "\x00", "\ud800", "\u202e", "2022-13-45T99:99:99.000+0000", "Z", "+0000", "-00:00",
    "0000-00-00T00:00:00Z", "9999-12-31T23:59:59.999999+2359", "T", "2024-05-01T10:00:00",
]  # fmt: skip

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(ODD_STRINGS),
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), children, max_size=5
        ),
    ),
    max_leaves=20,
)


@st.composite
def mutated(draw: st.DrawFn, shape: Any) -> Any:
    """The well-formed answer with some of its values, at any depth, replaced by hostile ones."""
    if isinstance(shape, dict):
        return {
            key: draw(st.one_of(mutated(value), json_values)) if draw(st.booleans()) else value
            for key, value in shape.items()
            if draw(st.integers(0, 9)) > 0  # now and then a key goes missing
        }
    if isinstance(shape, list):
        return [draw(mutated(item)) for item in shape]
    return draw(st.one_of(st.just(shape), leaves))


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN and Infinity, as some servers send


def _xmlrpc_bytes(value: Any) -> bytes:
    try:
        return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()
    except (OverflowError, TypeError, ValueError):  # a value XML-RPC cannot carry
        return xmlrpc.client.dumps(("unmarshallable",), methodresponse=True).encode()


FAULTS = [
    xmlrpc.client.dumps(xmlrpc.client.Fault(2, "No method matching arguments")).encode(),
    b"<?xml version='1.0'?><methodResponse><fault><value><struct><member><name>faultCode</name>"
    b"<value><string>nope</string></value></member></struct></value></fault></methodResponse>",
    b"<?xml version='1.0'?><methodResponse><params><param><value><int>99999999999999999999</int>"
    b"</value></param></params></methodResponse>",
    b"<?xml version='1.0'?><methodResponse><params><param><value><array><data><value><struct>"
    b"<member><name>campaignId</name><value><double>inf</double></value></member>"
    b"<member><name>goalId</name><value><dateTime.iso8601>never</dateTime.iso8601></value>"
    b"</member></struct></value></data></array></value></param></params></methodResponse>",
    b"<?xml version='1.0'?><methodResponse><params><param><value><base64>!!!</base64></value>"
    b"</param></params></methodResponse>",
    b"<?xml version='1.0'?><methodResponse><params></params></methodResponse>",
    b"<?xml version='1.0'?><methodResponse><params><param><value><array><data><value><struct>"
    b"<member><name>success</name>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
    b'&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><methodResponse><params><param>'
    b"<value><string>&c;</string></value></param></params></methodResponse>",
]
GARBAGE = [
    b"", b" ", b"null", b"[]", b"{}", b'""', b"0", b"true", b"NaN", b"{", b'{"contacts": [', b"[[[",
    b"\xff\xfe\x00{", b'\xef\xbb\xbf{"id": 1}', '{"id": 1}'.encode("utf-16"), b'{"id": 1}\x00',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>", b"<!DOCTYPE html><title>Error</title>",
    b'{"fault": {"faultstring": "Invalid Access Token", "detail": {"errorcode": 7}}}',
    b'{"fault": "x"}', b'{"message": ["not", "a", "string"]}', b'{"id": 1, "id": "two"}',
    b"\x80\x81\x82\xc3\x28", b'{"id": 1e999}', b'{"id": -Infinity}', b'{"id": NaN}',
    b'{"contacts": 5}', b'{"contacts": [1, "2", null]}', b'{"contacts": [], "count": "many"}',
    b'{"contacts": [], "next_page_token": 7}', b'{"results": {"a": 1}}', b"[1, 2, 3]",
    b'{"tag_ids": 5, "id": 1}', b'{"tag_ids": {"1": 2}, "id": 1}', b'{"email_addresses": "x", "id": 1}',
]  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
    "application/json; charset=bogus-charset", "text/html; charset=utf-8", "text/xml",
    "application/xml", "text/plain", "application/octet-stream", "", ";;;", "application/json; charset=",
]  # fmt: skip
QUOTA_HEADERS = [
    "x-keap-product-quota-limit", "x-keap-product-quota-used", "x-keap-product-quota-available",
    "x-keap-product-quota-time-unit", "x-keap-product-quota-interval",
    "x-keap-product-quota-expiry-time", "x-keap-product-throttle-limit",
    "x-keap-product-throttle-available", "x-keap-product-throttle-used",
    "x-keap-tenant-throttle-limit", "x-keap-tenant-throttle-available",
    "x-keap-tenant-throttle-used", "x-keap-tenant-throttle-time-unit",
    "x-keap-tenant-throttle-interval",
]  # fmt: skip
HEADER_VALUES = [
    "0", "1", "-1", "1500", "99999999999999999999999", "1e9", "NaN", "abc", "", " ", "|", "0|0",
    "10000|250000", "1|2|3|4|5|6", "minute", "day", "second", "Minute|Day", "2", "1.5", "٣",
    "\xe9\xff", "1" * 300, "0x10", "1779999999999", "9999999999999999",
]  # fmt: skip
RETRY_AFTERS = [
    "0", "0.01", "0.02", "1", "5", "-5", "3600", "1e308", "inf", "-inf", "nan", "", "soon",
    "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
    "Thu, 01 Jan 1970 00:00:00 -0000", "Sun, 99 Foo 2024 99:99:99 XYZ", "99999999999999999999",
    "\xff\xfe",
]  # fmt: skip
STATUSES = [
    200, 200, 200, 200, 200, 201, 202, 203, 204, 206, 299, 300, 301, 302, 303, 304, 307, 308, 399,
    400, 401, 403, 404, 405, 409, 410, 413, 418, 422, 429, 429, 451, 499, 500, 501, 502, 503, 504,
    520, 599, 600, 999,
]  # fmt: skip
LOCATIONS = [
    "/crm/rest/v1/contacts", "http://127.0.0.1:1/refused", "", "//", "javascript:alert(1)",
    "http://[::1", "/\xe9",
]  # fmt: skip

headers_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("Content-Type"), st.sampled_from(CONTENT_TYPES)),
        st.tuples(st.sampled_from(QUOTA_HEADERS), st.sampled_from(HEADER_VALUES)),
        st.tuples(st.just("Retry-After"), st.sampled_from(RETRY_AFTERS)),
        st.tuples(st.just("Location"), st.sampled_from(LOCATIONS)),
        st.tuples(st.just("Content-Encoding"), st.sampled_from(["gzip", "deflate", "br", "zz"])),
    ),
    max_size=6,
).map(tuple)


def _well_formed(operation: Operation) -> Any:
    if operation is OPERATIONS["achieve_goal_v1"] or operation.xml:
        return operation.shape["results"]  # REST v1 and XML-RPC answer a bare list
    return operation.shape


def body_strategy(operation: Operation) -> st.SearchStrategy[bytes]:
    well_formed = mutated(_well_formed(operation))
    encode = _xmlrpc_bytes if operation.xml else _json_bytes
    truncate = st.tuples(well_formed, st.floats(0, 1)).map(
        lambda pair: encode(pair[0])[: int(len(encode(pair[0])) * pair[1])]
    )
    return st.one_of(
        well_formed.map(encode),
        well_formed.map(_json_bytes if operation.xml else _xmlrpc_bytes),  # the other protocol
        json_values.map(_json_bytes),
        json_values.map(_xmlrpc_bytes),
        truncate,
        st.sampled_from(GARBAGE + FAULTS),
        st.binary(max_size=64),
    )


def replies_strategy(operation: Operation) -> st.SearchStrategy[list[Reply]]:
    hostile = st.builds(
        Reply,
        status=st.sampled_from(STATUSES),
        headers=headers_strategy,
        body=body_strategy(operation),
        framing=st.sampled_from(["length"] * 6 + ["close", "short", "chunked", "bad_chunks"]),
    )
    # A clean 200 whose body alone is hostile: the answers that reach the result readers.
    shape = _well_formed(operation)
    encode = _xmlrpc_bytes if operation.xml else _json_bytes
    clean = st.builds(
        Reply, status=st.just(200), headers=st.just(JSON), body=mutated(shape).map(encode)
    )
    reply = st.one_of(clean, hostile)
    return st.lists(reply, min_size=1, max_size=4)  # retries see the next reply


# Big answers are listed, not generated: each costs real time to build and parse.
def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _big_contacts(n: int, contact: dict) -> bytes:
    return _json_bytes({"contacts": [contact] * n, "count": n, "next_page_token": ""})


BIG_REPLIES = [
    Reply(200, JSON, _deep(100_000)),  # deeper than any parser's recursion
    Reply(200, JSON, b'{"contacts": ' + _deep(50_000) + b"}"),
    Reply(200, JSON, b'{"id": ' + b"1" * 5000 + b"}"),  # an integer past Python's digit limit
    Reply(200, JSON, b'{"id": 1, "given_name": "' + b"a" * 6_000_000 + b'"}'),  # ~6 MB
    Reply(200, JSON, _big_contacts(20_000, CONTACT_V1)),  # ~5 MB of well-formed contacts
    Reply(200, JSON, _big_contacts(20_000, {**CONTACT_V2, "id": None})),  # ~5 MB, ids missing
    Reply(200, JSON, b"\xff" * 3_000_000),  # 3 MB that is not UTF-8
    Reply(502, (("Content-Type", "text/html"),), b"<p>Gateway error</p>" * 200_000),  # 4 MB page
    Reply(
        200,
        (("Content-Type", "text/xml"),),
        _xmlrpc_bytes([{"success": True, "msg": "x"}] * 50_000),
    ),
    # 5 MB of zeros packed into 5 kB: a small decompression bomb.
    Reply(200, (("Content-Encoding", "gzip"),), gzip.compress(b"\x00" * 5_000_000)),
    Reply(200, (("Content-Encoding", "gzip"),), b"this is not gzip"),
]


# Every listed nasty body, once, as a clean 200 (generated cases reach each only now and then).
LISTED_REPLIES = [Reply(200, JSON, body) for body in GARBAGE + FAULTS]


def _outcome(operation: Operation, keap: KeapClient) -> str:
    """Run the operation; fail on anything but a typed result or a KeapError."""
    try:
        value = operation.call(keap)
    except KeapError as exc:
        str(exc)  # its message must render without raising
        return type(exc).__name__
    assert operation.valid(value), value
    return "result"


def _check(server: FuzzServer, keap: KeapClient, operation: Operation, replies: list[Reply]):  # type: ignore[no-untyped-def]
    server.program(replies)
    started = time.monotonic()
    try:
        outcome = _outcome(operation, keap)
    except AssertionError:
        raise
    except Exception as exc:  # exactly what this test exists to catch
        raise AssertionError(
            f"untyped {type(exc).__name__}: {exc!r:.300} for {[r.wire()[:300] for r in replies]}"
        ) from exc
    # Never hangs: one call is at most a few timeouts (retries included), never a wait on Keap's
    # say-so (a believed Retry-After ends as KeapThrottled at once, the acquire timeout is cut).
    assert time.monotonic() - started < 4 * HTTP_TIMEOUT_SECONDS + 5, replies
    return outcome


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_every_operation_returns_a_typed_result_or_a_typed_error(server, make_client, name):
    operation = OPERATIONS[name]
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(replies=replies_strategy(operation))
    def hostile(replies: list[Reply]) -> None:
        outcome = _check(server, make_client(operation.goal_api), operation, replies)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    hostile()

    for reply in BIG_REPLIES + LISTED_REPLIES:
        outcome = _check(server, make_client(operation.goal_api), operation, [reply])
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # The fuzz reached both sides: some answers made typed results, others typed errors.
    assert outcomes.get("result", 0) > 0, outcomes
    assert sum(n for o, n in outcomes.items() if o != "result") > 0, outcomes


class _Stall(Reply):
    """An answer that comes only after the client's read timeout."""

    def wire(self) -> bytes:
        time.sleep(HTTP_TIMEOUT_SECONDS * 1.5)
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


def test_a_server_that_stalls_or_hangs_up_is_a_typed_error_within_the_timeout(server, make_client):
    for operation in (OPERATIONS["userinfo"], OPERATIONS["achieve_goal_v1"]):
        assert _check(server, make_client(), operation, [_Stall()]) == "KeapUnavailable"
        hang_up = Reply(framing="raw", body=b"")  # the connection closes without a byte
        assert _check(server, make_client(), operation, [hang_up]) == "KeapUnavailable"


def test_a_refused_connection_is_a_typed_error(make_client):
    port = free_port()  # nothing listens here once free_port's socket closes
    keap = make_client()
    keap.app.api_url = f"http://127.0.0.1:{port}/crm"
    with pytest.raises(KeapError):
        keap.userinfo()
