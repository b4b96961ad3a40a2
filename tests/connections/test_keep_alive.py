"""Keep-alive: idle connections are refreshed before Keap's 45-day refresh tokens die."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import point_onramp_at
from tests.sandbox.server import run_sandbox
from webapp.connections import tasks
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.connections.tokens import client_for

DAY = 24 * 3600


@pytest.fixture
def keap(tmp_path, settings):
    """A sandbox of this module's own (it overrides the session's): these tests move its clock
    by weeks."""
    with run_sandbox(tmp_path / "keap") as sandbox:
        yield point_onramp_at(sandbox, settings)


def _age_onramp_side(days: int) -> None:
    """Onramp's view of the same passage of time: every token was issued `days` ago."""
    issued = timezone.now() - timedelta(days=days)
    KeapConnection.objects.update(
        refresh_token_issued_at=issued, access_expires_at=issued + timedelta(days=1)
    )


@pytest.mark.django_db
def test_keep_alive_refreshes_every_idle_connection_and_none_expire(
    keap, connect, owner_client, other_client, eager_celery
):
    connections = [
        connect(owner_client, app="ab123"),
        connect(owner_client, app="cd456"),
        connect(other_client, app="ef789", email="sam@sandbox.keap.test"),
    ]
    _age_onramp_side(31)
    keap.advance_clock(31 * DAY)

    queued = tasks.keep_alive.apply().get()

    assert queued == 3
    stats = keap.stats()
    assert stats.get("token:refresh_token") == 3, stats
    assert tasks.keep_alive.apply().get() == 0  # refreshed now: not idle any more
    for connection in connections:
        connection.refresh_from_db()
        assert connection.status == KeapConnection.Status.ACTIVE
        assert connection.refresh_token_issued_at > timezone.now() - timedelta(minutes=5)
        assert connection.events.filter(
            kind=ConnectionEvent.Kind.REFRESHED, detail="keep-alive"
        ).exists()

    # Twenty more days: 51 days after the first grants, past their 45-day life. Every connection
    # the job kept alive still works.
    keap.advance_clock(20 * DAY)
    for connection in connections:
        assert client_for(connection.pk).userinfo().email
    assert {c.status for c in KeapConnection.objects.all()} == {KeapConnection.Status.ACTIVE}


@pytest.mark.django_db
def test_a_connection_refreshed_since_the_job_was_queued_is_left_alone(
    owner_client, connect, keap, eager_celery
):
    connection = connect(owner_client)
    assert (
        tasks.refresh_idle_connection.apply(kwargs={"connection_id": connection.pk}).get() is False
    )
    assert keap.stats().get("token:refresh_token", 0) == 0
