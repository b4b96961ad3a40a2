"""Token lifecycle against the sandbox: refresh, single flight, revocation, failures, a killed worker."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from tests.conftest import child_env
from webapp.connections import tokens
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.connections.tokens import NeedsReconnect, client_for, fresh_access_token
from webapp.keap.errors import KeapUnavailable
from webapp.keap.models import DeveloperApp

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _expire(connection: KeapConnection, **delta) -> None:
    KeapConnection.objects.filter(pk=connection.pk).update(
        access_expires_at=timezone.now() + timedelta(**(delta or {"minutes": -5}))
    )


def _refreshes(keap) -> int:
    return keap.stats().get("token:refresh_token", 0)


def _kinds(connection: KeapConnection) -> list[str]:
    return list(connection.events.order_by("at", "pk").values_list("kind", flat=True))


@pytest.mark.django_db
def test_token_with_under_an_hour_left_is_refreshed_before_the_call(owner_client, connect, keap):
    connection = connect(owner_client)
    old_access, old_refresh = connection.access_token(), connection.refresh_token()
    _expire(connection, minutes=50)

    assert client_for(connection.pk).userinfo().email == "alex@sandbox.keap.test"

    connection.refresh_from_db()
    assert _refreshes(keap) == 1
    assert connection.access_token() != old_access
    assert connection.refresh_token() != old_refresh
    assert connection.access_expires_at > timezone.now() + timedelta(hours=23)
    assert _kinds(connection)[-1] == ConnectionEvent.Kind.REFRESHED


@pytest.mark.django_db
def test_token_with_hours_left_is_used_as_is(owner_client, connect, keap):
    connection = connect(owner_client)
    client_for(connection.pk).userinfo()
    client_for(connection.pk).account_profile()
    assert _refreshes(keap) == 0


@pytest.mark.django_db(transaction=True)
def test_revoked_grant_turns_needs_reconnect_emails_the_owner_and_stops(
    owner_client, owner, connect, keap, mailoutbox
):
    connection = connect(owner_client)
    keap.revoke("ab123")

    # Keap now refuses the access token (401); the one refresh that follows gets a 400.
    with pytest.raises(NeedsReconnect):
        client_for(connection.pk).userinfo()

    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.NEEDS_RECONNECT
    assert not connection.has_tokens
    assert _kinds(connection)[-1] == ConnectionEvent.Kind.NEEDS_RECONNECT
    assert _refreshes(keap) == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [owner.email]
    assert "Reconnect your Keap app ab123" in mailoutbox[0].subject
    assert f"/connections/{connection.pk}/" in mailoutbox[0].body

    with pytest.raises(NeedsReconnect):
        client_for(connection.pk).userinfo()
    assert _refreshes(keap) == 1  # no further refresh is attempted
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_reconnecting_heals_the_same_connection_and_records_it(
    owner_client, connect, keap, mailoutbox
):
    connection = connect(owner_client)
    keap.revoke("ab123")
    with pytest.raises(NeedsReconnect):
        client_for(connection.pk).userinfo()

    healed = connect(owner_client, app="ab123")

    assert healed.pk == connection.pk
    assert healed.status == KeapConnection.Status.ACTIVE
    assert client_for(healed.pk).userinfo().email == "alex@sandbox.keap.test"
    reconnected = healed.events.filter(kind=ConnectionEvent.Kind.RECONNECTED).get()
    assert "Recovered" in reconnected.detail
    assert _kinds(healed) == ["connected", "needs_reconnect", "reconnected"]


@pytest.mark.django_db
def test_keap_unreachable_is_retried_then_cools_down_and_never_flips(
    owner_client, connect, keap, settings, monkeypatch
):
    connection = connect(owner_client)
    _expire(connection)
    monkeypatch.setattr(tokens, "BACKOFF_BASE_SECONDS", 0.01)
    attempts = []
    real_refresh = tokens.oauth.refresh

    def counting_refresh(*args, **kwargs):
        attempts.append(1)
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(tokens.oauth, "refresh", counting_refresh)
    # Nothing listens here: the token endpoint is down.
    DeveloperApp.objects.update(token_url="http://127.0.0.1:9/token")

    with pytest.raises(KeapUnavailable):
        fresh_access_token(connection.pk)
    assert len(attempts) == tokens.REFRESH_ATTEMPTS

    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert connection.has_tokens
    assert connection.refresh_retry_after > timezone.now()
    assert _kinds(connection)[-1] == ConnectionEvent.Kind.REFRESH_FAILED

    # In the cooldown nobody hammers the token endpoint again.
    with pytest.raises(KeapUnavailable, match="cooling down"):
        fresh_access_token(connection.pk)
    assert len(attempts) == tokens.REFRESH_ATTEMPTS

    # Keap is back and the cooldown is over: the same refresh token still works.
    DeveloperApp.objects.update(token_url=f"{keap.url}/token")
    KeapConnection.objects.filter(pk=connection.pk).update(refresh_retry_after=None)
    assert fresh_access_token(connection.pk)
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert _refreshes(keap) == 1


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_callers_cause_exactly_one_refresh(owner_client, connect, keap, settings):
    connection = connect(owner_client)
    _expire(connection)
    env = child_env(settings)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.workers.call_keap", str(connection.pk), "5"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]

    def call(_):
        try:
            client_for(connection.pk).userinfo()
            return "ok"
        except Exception as exc:
            return repr(exc)
        finally:
            from django.db import connection as db

            db.close()

    with ThreadPoolExecutor(max_workers=25) as pool:
        in_process = list(pool.map(call, range(25)))
    outcomes = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))

    assert in_process == ["ok"] * 25
    assert [o["errors"] for o in outcomes] == [[]] * 5
    assert sum(o["ok"] for o in outcomes) == 25
    assert _refreshes(keap) == 1
    connection.refresh_from_db()
    # The database holds the newest pair: Keap accepts both of them. The 50 calls may have spent
    # this second's spike budget at Keap; this direct call bypasses Onramp's limiter, so let the
    # sliding second pass first.
    time.sleep(1.1)
    api = requests.get(
        f"{keap.url}/crm/rest/v1/oauth/connect/userinfo",
        headers={"Authorization": f"Bearer {connection.access_token()}"},
        timeout=5,
    )
    assert api.status_code == 200
    rotated = requests.post(
        f"{keap.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": connection.refresh_token()},
        auth=(keap.client_id, keap.client_secret),
        timeout=5,
    )
    assert rotated.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_worker_killed_between_keaps_answer_and_the_commit(
    owner_client, connect, keap, settings, mailoutbox
):
    """The documented outcome (docs/architecture.md, "Tokens"): the row is untouched; Keap has
    rotated, so the next refresh is refused and the connection turns needs-reconnect, and its
    owner is told."""
    connection = connect(owner_client)
    _expire(connection)
    before = KeapConnection.objects.values().get(pk=connection.pk)

    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.workers.call_keap",
            str(connection.pk),
            "1",
            "--die-after-token-response",
        ],
        cwd=ROOT,
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert child.returncode == -9  # SIGKILL, after Keap answered
    assert _refreshes(keap) == 1
    assert KeapConnection.objects.values().get(pk=connection.pk) == before  # nothing half-written
    assert _kinds(connection) == ["connected"]

    with pytest.raises(NeedsReconnect):
        fresh_access_token(connection.pk)
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.NEEDS_RECONNECT
    assert len(mailoutbox) == 1
