"""Refreshes that race, against the sandbox: nobody sends a dead refresh token, and no older pair
is ever stored over a newer one.

Keap kills a refresh token the moment it rotates it (docs/keap/API.md §1.6), so the dangerous
moment is after Keap has answered one worker's refresh and before that worker has stored the new
pair. A loopback hop in front of Keap's token endpoint (TokenGate) holds Keap's first answer in
transit for exactly that moment, while a second worker, or the customer reconnecting, arrives.
What keeps them safe is in webapp/connections/tokens.py: the row lock, and the re-read under it.
"""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from tests.loopback import serving
from webapp.connections import tokens
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.keap.models import DeveloperApp

pytestmark = pytest.mark.django_db(transaction=True)

HOLD_SECONDS = 30  # the longest any test holds an answer; a test that passes never waits it out


class TokenGate(ThreadingHTTPServer):
    """A hop on loopback between Onramp and Keap's token endpoint. Every request goes on to Keap
    at once; Keap's answer to the first is held until `release()`, the rest pass straight back."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _GateHandler)
        self.upstream = upstream
        self.holding = threading.Event()  # Keap has answered the first request; it is held
        self.released = threading.Event()
        self._first = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/token"

    def release(self) -> None:
        self.released.set()

    def hold_this_one(self) -> bool:
        return self._first.acquire(blocking=False)


class _GateHandler(BaseHTTPRequestHandler):
    server: TokenGate

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        forwarded = {name: self.headers[name] for name in ("Content-Type", "Authorization", "Accept")
                     if self.headers.get(name)}  # fmt: skip
        answer = requests.post(self.server.upstream, data=body, headers=forwarded, timeout=30)
        if self.server.hold_this_one():
            self.server.holding.set()
            self.server.released.wait(HOLD_SECONDS)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def gate_in_front_of(keap) -> Iterator[TokenGate]:
    """Onramp's token requests go through a TokenGate to the sandbox for the block's duration."""
    gate = TokenGate(f"{keap.url}/token")
    with serving(gate):
        DeveloperApp.objects.update(token_url=gate.url)
        try:
            yield gate
        finally:
            gate.release()
            DeveloperApp.objects.update(token_url=gate.upstream)


def _asks_for_the_row_lock(asked: threading.Event) -> Callable[..., Any]:
    """A query observer that sets `asked` when its thread asks for the connection row's lock:
    SELECT ... FOR UPDATE on PostgreSQL; on SQLite, where a writer locks the whole database,
    BEGIN IMMEDIATE. What comes after it waits for whoever holds the lock."""

    def observe(execute, sql, params, many, context):
        if sql.startswith("BEGIN IMMEDIATE") or (
            "FOR UPDATE" in sql and "connections_keapconnection" in sql
        ):
            asked.set()
        return execute(sql, params, many, context)

    return observe


def _in_thread(
    pool: ThreadPoolExecutor,
    function: Callable[..., Any],
    *args: Any,
    asked_for_lock: threading.Event | None = None,
) -> Future:
    def run() -> Any:
        try:
            if asked_for_lock is None:
                return function(*args)
            with db.execute_wrapper(_asks_for_the_row_lock(asked_for_lock)):
                return function(*args)
        finally:
            db.close()

    return pool.submit(run)


def _release_once_waiting(gate: TokenGate, asked_for_lock: threading.Event) -> None:
    # Seconds are plenty for a thread to read a row and ask for a lock. Were it ever slower, the
    # test would only lose its race, not fail: the gate is released either way.
    asked_for_lock.wait(10)
    threading.Event().wait(0.2)  # and is now inside that wait
    gate.release()


def _expire(connection: KeapConnection) -> None:
    KeapConnection.objects.filter(pk=connection.pk).update(
        access_expires_at=timezone.now() - timedelta(minutes=5)
    )


def _refresh_requests(keap) -> int:
    return keap.stats().get("token:refresh_token", 0)


def _kinds(connection: KeapConnection) -> list[str]:
    return list(connection.events.order_by("at", "pk").values_list("kind", flat=True))


def test_a_worker_that_read_the_old_pair_waits_and_uses_the_new_one(
    owner_client, connect, keap, mailoutbox
):
    """Worker B reads the row while worker A's refresh is answered by Keap but not yet stored.
    B must not send the refresh token it read (Keap killed it: a 400, and the customer would be
    told to reconnect for nothing); it waits for A and uses A's pair."""
    connection = connect(owner_client)
    _expire(connection)

    with ThreadPoolExecutor(2) as pool, gate_in_front_of(keap) as gate:
        worker_a = _in_thread(pool, tokens.fresh_access_token, connection.pk)
        assert gate.holding.wait(HOLD_SECONDS), "worker A never reached Keap"
        b_waits = threading.Event()
        worker_b = _in_thread(
            pool, tokens.fresh_access_token, connection.pk, asked_for_lock=b_waits
        )
        _release_once_waiting(gate, b_waits)
        token_a, token_b = worker_a.result(60), worker_b.result(60)

    assert token_b == token_a
    assert _refresh_requests(keap) == 1  # only A's: B never sent the dead token
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert connection.access_token() == token_a
    assert _kinds(connection) == [ConnectionEvent.Kind.CONNECTED, ConnectionEvent.Kind.REFRESHED]
    assert mailoutbox == []


def test_an_operators_refresh_behind_a_workers_rotates_the_pair_the_worker_stored(
    owner_client, connect, keap, mailoutbox
):
    """Two refreshes one after the other, the second (Force refresh, which always refreshes)
    arriving while the first is answered but not stored: both succeed at Keap, in order, and the
    pair left stored is the second, which Keap still accepts."""
    connection = connect(owner_client)
    _expire(connection)

    with ThreadPoolExecutor(2) as pool, gate_in_front_of(keap) as gate:
        worker = _in_thread(pool, tokens.fresh_access_token, connection.pk)
        assert gate.holding.wait(HOLD_SECONDS), "the worker never reached Keap"
        operator_waits = threading.Event()
        force = partial(tokens.force_refresh, connection.pk, reason="Force refresh by staff")
        operator = _in_thread(pool, force, asked_for_lock=operator_waits)
        _release_once_waiting(gate, operator_waits)
        worker_token, refreshed = worker.result(60), operator.result(60)

    assert refreshed is True
    assert _refresh_requests(keap) == 2
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert connection.access_token() != worker_token  # the operator's pair, stored after
    assert _kinds(connection)[1:] == [ConnectionEvent.Kind.REFRESHED] * 2
    assert mailoutbox == []
    # Keap accepts the stored refresh token: it is the live one, not an older pair.
    assert tokens.force_refresh(connection.pk, reason="check") is True


def test_a_reconnect_while_a_refresh_is_in_flight_leaves_the_newer_pair_stored(
    owner_client, connect, keap, mailoutbox
):
    """The customer reconnects while a worker's refresh is answered by Keap but not yet stored.
    The reconnect's pair is the newer one (the code exchange kills the pair the refresh got), so
    it is the one left stored, and the connection keeps working."""
    connection = connect(owner_client)
    _expire(connection)
    start = owner_client.post(reverse("connections:start"))
    consented = keap.consent(start["Location"], app="ab123")
    callback_url = f"{reverse('connections:callback')}?{urlencode(consented)}"

    with ThreadPoolExecutor(2) as pool, gate_in_front_of(keap) as gate:
        worker = _in_thread(pool, tokens.fresh_access_token, connection.pk)
        assert gate.holding.wait(HOLD_SECONDS), "the worker never reached Keap"
        reconnect_waits = threading.Event()
        callback = _in_thread(pool, owner_client.get, callback_url, asked_for_lock=reconnect_waits)
        _release_once_waiting(gate, reconnect_waits)
        worker.result(60)
        page = callback.result(60)

    assert page.status_code == 302
    assert page["Location"] == reverse("connections:detail", args=[connection.pk])
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert ConnectionEvent.Kind.NEEDS_RECONNECT not in _kinds(connection)
    assert mailoutbox == []
    # The stored refresh token is the live one: the next refresh works and nothing flips.
    assert tokens.force_refresh(connection.pk, reason="check") is True
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
