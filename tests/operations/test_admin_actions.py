"""The connection admin's actions: pause, resume, force a sync, force a refresh."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from tests.factories import ConnectionFactory
from webapp.connections import tokens
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.connections.tasks import keep_alive
from webapp.schedule import today
from webapp.sync import worker
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:connections_keapconnection_changelist"


def _act(client, action: str, *connections: KeapConnection):
    response = client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [c.pk for c in connections]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def _kinds(connection: KeapConnection) -> list[str]:
    return list(connection.events.order_by("at", "pk").values_list("kind", flat=True))


def test_pause_stops_syncs_keep_alive_and_token_use_and_resume_restores_them(staff_client, staff):
    connection = ConnectionFactory(app_name="p4use")
    # Old enough for keep-alive to want it.
    KeapConnection.objects.filter(pk=connection.pk).update(
        refresh_token_issued_at=timezone.now() - timedelta(days=40)
    )

    shown = _act(staff_client, "pause", connection)
    connection.refresh_from_db()

    assert connection.status == KeapConnection.Status.PAUSED
    assert shown == ["p4use: paused."]
    event = connection.events.get(kind=ConnectionEvent.Kind.PAUSED)
    assert event.actor == staff
    assert keep_alive() == 0
    assert today.act(connection.developer_app) == []  # the plan starts nothing for it
    assert not SyncRun.objects.filter(connection=connection).exists()
    with pytest.raises(tokens.ConnectionNotActive):
        tokens.fresh_access_token(connection.pk)  # what every job asks before calling Keap
    assert connection.has_tokens  # paused, not disconnected

    assert _act(staff_client, "resume", connection) == ["p4use: resumed."]
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert _kinds(connection)[-2:] == ["paused", "resumed"]
    assert keep_alive() == 1


def test_pause_leaves_a_connection_that_needs_reconnect_alone(staff_client):
    connection = ConnectionFactory(app_name="n33ds", status=KeapConnection.Status.NEEDS_RECONNECT)
    shown = _act(staff_client, "pause", connection)
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.NEEDS_RECONNECT
    assert shown == ["n33ds: not paused (it is needs_reconnect)."]
    assert not connection.events.exists()


def test_force_sync_queues_a_run_through_the_sync_flow(staff_client, staff):
    connection = ConnectionFactory(app_name="syncm3")
    shown = _act(staff_client, "force_sync", connection)
    run = SyncRun.objects.get(connection=connection)
    assert run.status == SyncRun.Status.QUEUED
    assert shown == [f"syncm3: sync run {run.pk} queued ({run.kind})."]
    assert connection.events.get(kind="sync_forced").actor == staff
    # Asked again while that run waits: the same run, no second one.
    _act(staff_client, "force_sync", connection)
    assert SyncRun.objects.filter(connection=connection).count() == 1


def test_force_sync_refuses_a_paused_connection(staff_client):
    connection = ConnectionFactory(app_name="z1zz", status=KeapConnection.Status.PAUSED)
    assert _act(staff_client, "force_sync", connection) == ["z1zz: no sync, it is paused."]
    assert not SyncRun.objects.filter(connection=connection).exists()


def test_force_refresh_rotates_the_tokens_at_keap(staff_client, staff, owner_client, connect, keap):
    connection = connect(owner_client, app="ab123")
    before = (connection.access_token(), connection.refresh_token())

    shown = _act(staff_client, "force_refresh", connection)

    connection.refresh_from_db()
    assert shown == ["ab123: tokens refreshed."]
    assert (connection.access_token(), connection.refresh_token()) != before
    assert connection.access_token() == tokens.fresh_access_token(connection.pk)
    assert _kinds(connection)[-2:] == ["refreshed", "refresh_forced"]
    assert connection.events.get(kind="refresh_forced").actor == staff
    # The new access token works at Keap.
    assert tokens.client_for(connection.pk).userinfo()


def test_force_refresh_after_keap_revoked_the_grant_marks_needs_reconnect(
    staff_client, owner_client, connect, keap
):
    connection = connect(owner_client, app="cd456")
    keap.revoke("cd456")

    shown = _act(staff_client, "force_refresh", connection)

    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.NEEDS_RECONNECT
    assert shown[0].startswith("cd456: the refresh failed")
    assert "refresh_forced" in _kinds(connection)


def test_work_queued_before_a_pause_stops_without_calling_keap(
    staff_client, owner_client, connect, keap
):
    from webapp.goals import delivery
    from webapp.goals.models import GoalCompletion

    connection = connect(owner_client, app="ab123")
    run = SyncRun.objects.create(connection=connection, kind=SyncRun.Kind.INITIAL)
    goal = GoalCompletion.objects.create(
        connection=connection, contact_id=1, integration="ab123", call_name="purchased",
        idempotency_key="paused-1",
    )  # fmt: skip
    _act(staff_client, "pause", connection)
    keap.reset_stats()

    worker.work_on_run(run_id=run.pk)
    delivery.deliver(completion_id=goal.pk)

    assert keap.stats() == {}  # not one request reached Keap
    run.refresh_from_db()
    goal.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED and "paused" in run.error
    assert goal.status == GoalCompletion.Status.FAILED


def test_a_customer_reconnecting_does_not_lift_a_staff_pause(
    staff_client, owner_client, connect, keap
):
    connection = connect(owner_client, app="ab123")
    _act(staff_client, "pause", connection)
    runs_before = SyncRun.objects.filter(connection=connection).count()

    connect(owner_client, app="ab123")  # the same Keap app, through Keap's pages again

    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.PAUSED
    assert connection.has_tokens  # the new tokens are kept for when staff resume
    assert SyncRun.objects.filter(connection=connection).count() == runs_before
    page = owner_client.get(reverse("connections:detail", args=[connection.pk]))
    assert b"paused work on this Keap app" in page.content
    assert b">Reconnect</button>" not in page.content
