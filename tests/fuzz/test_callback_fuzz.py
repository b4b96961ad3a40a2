"""Hostile query strings at both OAuth callbacks: never a 5xx, never a code exchange without the state.

Each test starts a real authorization through the real start view, so the browser's session holds a
real pending state, and has the Keap sandbox issue a real code for it. Then a seeded generator (so CI
sees the same cases every run, and fast: Hypothesis's own overhead doubled the run time) throws
query strings at the callback through Django's test client, as raw bytes in QUERY_STRING: huge values, unicode with NUL, RTL marks and surrogates,
bytes that are not UTF-8, broken percent-escapes, repeated and missing keys, `error=` variants, and
states that nearly match the real one. The sandbox counts every request to its token endpoint over
real HTTP: after all the cases that lacked the session's state it must have counted none. The control
at the end sends the real state and code, which must connect (one token request), so the count can
fail.
"""

import random
import re
from urllib.parse import quote_from_bytes, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from webapp.connections.models import KeapConnection

pytestmark = pytest.mark.django_db

CONNECT_CASES = 10_000
SIGNIN_CASES = 5_000
WITH_STATE_CASES = 300  # the real state plus hostile rest: each needs a fresh authorization
CONNECT_CALLBACK = reverse("connections:callback")
SIGNIN_CALLBACK = "/accounts/keap/login/callback/"

# The page a refused connect callback shows (templates/connections/callback_error.html), with a way on.
CONNECT_ERROR_PAGE = 'id="callback-error"'
SIGNIN_ERROR_PAGE = "Third-Party Login Failure"  # allauth's authentication_error.html


# --- Generating query strings --------------------------------------------------------------------

# Bytes a query string should never be trusted to be free of.
NASTY = [
    b"", b"=", b"&", b"==", b"%", b"%%", b"%G1", b"%e2%82", b"%0", b"%00", b"\x00", b"a\x00b",
    b"%ff%fe", b"\xff\xfe", b"\xc3", b"\xc3(", b"\xed\xa0\x80", b"%ED%A0%80", b"%ed%bf%bf",
    b"\xf4\x90\x80\x80", b"\xc0\xaf", b"+", b"++", b" ", b"%20", b"\t", b"\r\n",
    b"%0d%0aSet-Cookie:%20x=1", b"null", b"None", b"[]", b"{}", b"0", b"-1", b"1e999",
    b"<script>alert(1)</script>", b"%3Cscript%3E", b"javascript:alert(1)",
    b"https://evil.example/", b"//evil.example", b"../../etc/passwd", b"\\", b"'\"", b";", b"#",
    "\u202eetats".encode(), "\u200f\u200e".encode(), "\ufeff".encode(), "\U0001d530\U0001d531\U0001d51e\U0001d531\U0001d522".encode(),
    "\u017ftate".encode(), "Å".encode(), "A\u030a".encode(), "\uffff".encode(), "\U0010ffff".encode(),
]  # fmt: skip
KEYS = [
    b"state", b"state", b"state", b"code", b"code", b"error", b"error", b"scope",
    b"error_description", b"error_uri", b"State", b"STATE", b"state[]", b"state%00", b"%73tate",
    b"sta+te", b"state ", b" state", b"\xffstate", "\u0455tate".encode(), b"stat", b"code%20", b"CODE",
    b"", b"_redir", b"next", b"process",
]  # fmt: skip
ERRORS = [
    b"access_denied", b"%61ccess_denied", b"ACCESS_DENIED", b"access_denied%00", b"server_error",
    b"invalid_request", b"invalid_scope", b"temporarily_unavailable", b"unauthorized_client",
    b"access_denied access_denied",
]  # fmt: skip
# Bigger than every limit: the connect flow's (256 for state, 2048 for code), a server's request
# line (gunicorn's 4094), and ~1 MB.
HUGE_SIZES = [257, 2049, 4095, 65_537, 1_048_577]
HUGE_FILL = [b"a", b"%00", b"\xff", "\u202e".encode(), b"&", b"="]
# Ways to get the real state nearly right. None of them equals it after decoding.
NEAR_MISSES = [
    "prefix", "longer", "swapcase", "upper", "one_changed", "reversed", "nul_suffix",
    "space_suffix", "broken_escape", "other_session", "other_flow", "doubled",
]  # fmt: skip

SEPARATORS = [b"&", b"&", b"&", b";", b"&&", b"&amp;"]
VALUE_KINDS = ["lit", "error", "bytes", "text", "near", "near", "real_code"]
# Code points from every plane, lone surrogates included ("surrogatepass" makes them bytes).
CODE_POINT_RANGES = [
    (0, 0x7F),
    (0x80, 0x7FF),
    (0x800, 0xFFFF),
    (0xD800, 0xDFFF),
    (0x10000, 0x10FFFF),
]


def _value(rng: random.Random) -> tuple[str, object]:
    kind = rng.choice(VALUE_KINDS)
    if kind == "lit":
        return kind, rng.choice(NASTY)
    if kind == "error":
        return kind, rng.choice(ERRORS)
    if kind == "bytes":
        return kind, rng.randbytes(rng.randint(0, 40))
    if kind == "text":
        ranges = [rng.choice(CODE_POINT_RANGES) for _ in range(rng.randint(0, 20))]
        return kind, "".join(chr(rng.randint(low, high)) for low, high in ranges)
    if kind == "near":
        return kind, rng.choice(NEAR_MISSES)
    return kind, b""


def generate(rng: random.Random):  # type: ignore[no-untyped-def]
    """One case: key=value parts, the separator between them, whether the real state rides along
    twice (repeated keys must be refused even when one of them is right), and no huge value."""
    pieces = [
        (
            rng.choice(KEYS) if rng.random() < 0.85 else rng.randbytes(rng.randint(0, 8)),
            _value(rng),
            rng.choice(["quoted", "raw", "raw", "no_equals"]),
        )
        for _ in range(rng.randint(0, 8))
    ]
    return pieces, rng.choice(SEPARATORS), rng.random() < 0.1, (None, b"")


# Huge values are not left to chance (a megabyte of escapes takes a while to parse): every size,
# fill and key once, next to a near-miss state and the real code.
HUGE_CASES = [
    ([(b"state", ("near", "prefix"), "raw"), (b"code", ("real_code", b""), "raw")], b"&", False,
     ((size, fill), key))
    for size in HUGE_SIZES
    for fill in HUGE_FILL
    for key in (b"state", b"code", b"x")
]  # fmt: skip


def _near_miss(kind: str, real: str, other: str, other_flow: str) -> str:
    changed = "A" if real[3] != "A" else "B"
    return {
        "prefix": real[:-1],
        "longer": real + "x",
        "swapcase": real.swapcase() if real.swapcase() != real else real + "X",
        "upper": real.upper() if real.upper() != real else real + "U",
        "one_changed": real[:3] + changed + real[4:],
        "reversed": real[::-1],
        "nul_suffix": real + "\x00",
        "space_suffix": real + " ",
        "broken_escape": real[:5] + "%G" + real[5:],
        "other_session": other,
        "other_flow": other_flow,
        "doubled": real + real,
    }[kind]


def build_query(case, *, real: str, other: str, other_flow: str, code: str) -> bytes:
    """The raw query string for a generated case (bytes, possibly not UTF-8)."""
    pieces, separator, with_real_twice, (huge_value, huge_key) = case
    encoded = []
    if huge_value is not None:
        size, fill = huge_value
        encoded.append(huge_key + b"=" + (fill * (size // len(fill) + 1))[:size])
    for key, (kind, spec), mode in pieces:
        if kind == "near":
            value = _near_miss(spec, real, other, other_flow).encode()
        elif kind == "real_code":
            value = code.encode()
        elif kind == "text":
            value = spec.encode("utf-8", "surrogatepass")
        else:
            value = spec
        if mode == "quoted":
            encoded.append(f"{quote_from_bytes(key)}={quote_from_bytes(value)}".encode())
        elif mode == "no_equals":
            encoded.append(key + value)
        else:
            encoded.append(key + b"=" + value)
    query = separator.join(encoded)
    if with_real_twice:  # always `&`: after `;` or `&amp;` the second would not be a `state` key
        query += b"&state=" + real.encode() + b"&state=" + real.encode()
    return query


def _state_of(url: str) -> str:
    match = re.search(r"[?&]state=([^&]+)", urlsplit(url).query)
    assert match, url
    return match.group(1)


def _token_requests(sandbox) -> int:
    return sum(n for name, n in sandbox.stats().items() if name.startswith("token"))


def _get(browser: Client, path: str, query: bytes):
    # WSGI carries the query string as latin-1 text, one character per byte: any bytes at all.
    return browser.get(path, QUERY_STRING=query.decode("latin-1"))


def _assert_no_5xx(response, query: bytes) -> None:
    assert response.status_code < 500, (response.status_code, query[:300])
    assert b"<script>alert" not in response.content, query[:300]  # what Keap sent stays text


# --- The connect flow's callback -----------------------------------------------------------------


def _signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return browser


def _start_connect(browser: Client) -> str:
    response = browser.post(reverse("connections:start"))
    assert response.status_code == 302
    return response["Location"]


def _pending_states(browser: Client) -> set[str]:
    return set(browser.session.get("keap_oauth_pending", {}))


def _run(count: int, check, seed: int, every_100=None) -> None:  # type: ignore[no-untyped-def]
    """Run `check` on `count` generated cases, then on every huge case.
    `every_100()` runs after each hundred cases (a slower check, to narrow a failure down)."""
    rng = random.Random(seed)  # a fixed seed: CI sees the same cases on every run
    cases = [generate(rng) for _ in range(count)] + HUGE_CASES
    for n, case in enumerate(cases, 1):
        check(case)
        if every_100 and n % 100 == 0:
            every_100(n)


def test_connect_callback_refuses_every_hostile_query_without_exchanging(owner, keap):
    browser = _signed_in(owner)
    authorize_url = _start_connect(browser)
    real = _state_of(authorize_url)
    granted = keap.consent(authorize_url, app="ab123")
    assert granted["state"] == real
    other = _state_of(_start_connect(_signed_in(owner)))  # the same customer, another browser
    other_flow = _state_of(_start_signin(Client()))  # a state of Sign in with Keap
    keap.reset_stats()

    def check(case) -> None:  # type: ignore[no-untyped-def]
        query = build_query(
            case, real=real, other=other, other_flow=other_flow, code=granted["code"]
        )
        response = _get(browser, CONNECT_CALLBACK, query)
        _assert_no_5xx(response, query)
        assert response.status_code == 400, query[:300]
        assert CONNECT_ERROR_PAGE in response.content.decode(), query[:300]

    def state_still_pending(n: int) -> None:
        assert real in _pending_states(browser), f"a case up to #{n} used the state up"

    _run(CONNECT_CASES, check, seed=8, every_100=state_still_pending)
    assert _token_requests(keap) == 0
    assert not KeapConnection.objects.exists()
    # The control: the session's own state with Keap's code connects, through one token request.
    response = browser.get(CONNECT_CALLBACK, granted)
    assert response.status_code == 302, response.content.decode()[:500]
    assert keap.stats()["token:authorization_code"] == 1
    assert KeapConnection.objects.get().app_name == "ab123"


def test_connect_callback_with_the_real_state_and_hostile_rest_never_fails(owner, keap):
    browser = _signed_in(owner)
    other = _state_of(_start_connect(_signed_in(owner)))
    rng = random.Random(888)

    for case in [generate(rng) for _ in range(WITH_STATE_CASES)]:
        real = _state_of(_start_connect(browser))
        rest = build_query(case, real=real, other=other, other_flow="x", code="not-a-real-code")
        query = b"state=" + real.encode() + b"&" + rest
        response = _get(browser, CONNECT_CALLBACK, query)
        _assert_no_5xx(response, query)
        assert response.status_code == 400, query[:300]
        assert CONNECT_ERROR_PAGE in response.content.decode(), query[:300]

    assert not KeapConnection.objects.exists()


# --- Sign in with Keap's callback (allauth) ------------------------------------------------------


def _start_signin(browser: Client) -> str:
    response = browser.post("/accounts/keap/login/", {"process": "login"})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def test_signin_callback_refuses_every_hostile_query_without_exchanging(keap):
    browser = Client()
    authorize_url = _start_signin(browser)
    real = _state_of(authorize_url)
    granted = keap.consent(authorize_url, app="ab123")
    assert granted["state"] == real
    other = _state_of(_start_signin(Client()))
    other_flow = _state_of(_start_connect(_signed_in(UserFactory())))
    keap.reset_stats()

    def check(case) -> None:  # type: ignore[no-untyped-def]
        pieces, separator, _, huge_value = case  # allauth reads the last `state`: no real one here
        query = build_query(
            (pieces, separator, False, huge_value), real=real, other=other, other_flow=other_flow,
            code=granted["code"],
        )  # fmt: skip
        response = _get(browser, SIGNIN_CALLBACK, query)
        _assert_no_5xx(response, query)
        if response.status_code == 400:
            # More fields than Django parses: its own 400 page, before allauth sees anything.
            assert query.count(b"&") >= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, query[:300]
            return
        assert response.status_code == 401, query[:300]
        assert SIGNIN_ERROR_PAGE in response.content.decode(), query[:300]

    _run(SIGNIN_CASES, check, seed=88)
    assert _token_requests(keap) == 0
    # The control: the real state and code sign the Keap user in, through one token request.
    response = browser.get(SIGNIN_CALLBACK, granted)
    assert response.status_code == 302, response.content.decode()[:500]
    assert keap.stats()["token:authorization_code"] == 1
    assert browser.session.get("_auth_user_id")


def test_signin_callback_with_the_real_state_and_hostile_rest_never_fails(keap):
    browser = Client()
    other = _state_of(_start_signin(Client()))
    rng = random.Random(8888)
    cancelled = reverse("socialaccount_login_cancelled")

    for case in [generate(rng) for _ in range(WITH_STATE_CASES)]:
        real = _state_of(_start_signin(browser))
        pieces, separator, _, huge_value = case
        rest = build_query(
            (pieces, separator, False, huge_value), real=real, other=other, other_flow="x",
            code="not-a-real-code",
        )  # fmt: skip
        query = rest + b"&state=" + real.encode()  # last, so allauth reads it
        response = _get(browser, SIGNIN_CALLBACK, query)
        _assert_no_5xx(response, query)
        if response.status_code == 302:  # error=access_denied: allauth's "cancelled" page
            assert response["Location"] == cancelled, query[:300]
            continue
        assert response.status_code == 401, query[:300]
        assert SIGNIN_ERROR_PAGE in response.content.decode(), query[:300]
    assert not browser.session.get("_auth_user_id")
