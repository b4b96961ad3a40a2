"""GET /metrics: who may scrape it, and every metric against the data it is computed from."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import ConnectionFactory
from webapp.celery import app as celery_app
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.hooks.models import HookDelivery, HookEndpoint
from webapp.keap.models import DeveloperApp
from webapp.sync.models import SyncRun
from webapp.usage.models import UsageDay

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-tests"
Status = KeapConnection.Status


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def _scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def _second_app() -> DeveloperApp:
    app = DeveloperApp(name="Second", client_id="second-app")
    app.set_client_secret("second-secret")
    app.save()
    return app


def _usage(app: str, tenant: str, day: date, **counts) -> None:
    UsageDay.objects.create(
        app=app, tenant=tenant, connection_id=1, operation="contacts.list.v2", lane="bulk",
        day=day, **counts,
    )  # fmt: skip


# --- who may scrape ------------------------------------------------------------------------------


def test_with_a_token_only_its_bearer_may_scrape(anon_client, metrics_token):
    assert anon_client.get("/metrics").status_code == 404
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 404
    ok = anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ok.status_code == 200
    assert "no-cache" in ok["Cache-Control"]


def test_without_a_token_metrics_do_not_exist_in_production(anon_client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert anon_client.get("/metrics").status_code == 404


def test_without_a_token_in_debug_only_loopback_may_scrape(anon_client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    assert anon_client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert anon_client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404


def test_signed_in_staff_without_the_token_get_nothing(staff_client, metrics_token):
    assert staff_client.get("/metrics").status_code == 404


# --- what it says --------------------------------------------------------------------------------


def test_keap_calls_429s_and_errors_are_summed_per_developer_app(anon_client, metrics_token):
    main = DeveloperApp.objects.current()
    second = _second_app()
    today = timezone.now().date()
    _usage(main.client_id, "ab123", today - timedelta(days=3), calls=10, responses_429=2, errors=1)
    _usage(main.client_id, "cd456", today, calls=5, responses_429=1)
    _usage(second.client_id, "ef789", today, calls=7)
    _usage("retired-app", "ab123", today - timedelta(days=400), calls=4, errors=4)

    samples = _scrape(anon_client)

    assert _value(samples, "onramp_keap_calls_total", app=main.client_id) == 15
    assert _value(samples, "onramp_keap_responses_429_total", app=main.client_id) == 3
    assert _value(samples, "onramp_keap_errors_total", app=main.client_id) == 1
    assert _value(samples, "onramp_keap_calls_total", app="second-app") == 7
    assert _value(samples, "onramp_keap_responses_429_total", app="second-app") == 0
    # An app that is gone from the admin still has its history counted.
    assert _value(samples, "onramp_keap_errors_total", app="retired-app") == 4


def test_calls_made_today_show_at_the_next_scrape(anon_client, metrics_token):
    main = DeveloperApp.objects.current().client_id
    today = timezone.now().date()
    _usage(main, "ab123", today - timedelta(days=1), calls=100)
    _usage(main, "ab123", today, calls=1)
    assert _value(_scrape(anon_client), "onramp_keap_calls_total", app=main) == 101

    UsageDay.objects.filter(day=today).update(calls=6)
    _usage(main, "cd456", today, calls=4)

    assert _value(_scrape(anon_client), "onramp_keap_calls_total", app=main) == 110


def test_token_refreshes_and_failures_are_counted_per_developer_app(anon_client, metrics_token):
    second = _second_app()
    first = ConnectionFactory()
    other = ConnectionFactory(developer_app=second)
    for _ in range(3):
        ConnectionEvent.objects.create(connection=first, kind=ConnectionEvent.Kind.REFRESHED)
    ConnectionEvent.objects.create(connection=first, kind=ConnectionEvent.Kind.REFRESH_FAILED)
    ConnectionEvent.objects.create(connection=first, kind=ConnectionEvent.Kind.CONNECTED)
    for _ in range(2):
        ConnectionEvent.objects.create(connection=other, kind=ConnectionEvent.Kind.REFRESHED)

    samples = _scrape(anon_client)

    app = first.developer_app.client_id
    assert _value(samples, "onramp_token_refreshes_total", app=app) == 3
    assert _value(samples, "onramp_token_refresh_failures_total", app=app) == 1
    assert _value(samples, "onramp_token_refreshes_total", app="second-app") == 2
    assert _value(samples, "onramp_token_refresh_failures_total", app="second-app") == 0


def test_connections_are_counted_by_app_and_status_with_zeros(anon_client, metrics_token):
    second = _second_app()
    ConnectionFactory.create_batch(2)
    ConnectionFactory(status=Status.NEEDS_RECONNECT)
    ConnectionFactory(developer_app=second)
    ConnectionFactory(developer_app=second, status=Status.DISCONNECTED)

    samples = _scrape(anon_client)

    main = DeveloperApp.objects.current().client_id
    assert _value(samples, "onramp_connections", app=main, status="active") == 2
    assert _value(samples, "onramp_connections", app=main, status="needs_reconnect") == 1
    assert _value(samples, "onramp_connections", app=main, status="disconnected") == 0
    assert _value(samples, "onramp_connections", app="second-app", status="active") == 1
    assert _value(samples, "onramp_connections", app="second-app", status="disconnected") == 1
    statuses = {dict(labels)["status"] for name, labels in samples if name == "onramp_connections"}
    assert statuses == set(Status.values)


def test_sync_lag_is_the_time_since_each_active_connections_last_successful_sync(
    anon_client, metrics_token
):
    now = timezone.now()
    second = _second_app()
    synced = ConnectionFactory(connected_at=now - timedelta(days=2))
    _run(synced, SyncRun.Status.SUCCEEDED, finished=now - timedelta(seconds=3000))
    _run(synced, SyncRun.Status.SUCCEEDED, finished=now - timedelta(seconds=600))
    _run(synced, SyncRun.Status.FAILED, finished=now - timedelta(seconds=10))  # not a success
    ConnectionFactory(connected_at=now - timedelta(seconds=1200))  # never synced yet
    quiet = ConnectionFactory(status=Status.NEEDS_RECONNECT, connected_at=now - timedelta(days=9))
    _run(quiet, SyncRun.Status.SUCCEEDED, finished=now - timedelta(days=8))  # not active: ignored
    fresh = ConnectionFactory(developer_app=second)
    _run(fresh, SyncRun.Status.SUCCEEDED, finished=now - timedelta(seconds=60))

    samples = _scrape(anon_client)

    main = DeveloperApp.objects.current().client_id
    assert _value(samples, "onramp_sync_lag_max_seconds", app=main) == pytest.approx(1200, abs=30)
    assert _value(samples, "onramp_sync_lag_mean_seconds", app=main) == pytest.approx(900, abs=30)
    assert _value(samples, "onramp_connections_never_synced", app=main) == 1
    assert _value(samples, "onramp_sync_lag_max_seconds", app="second-app") == pytest.approx(
        60, abs=30
    )
    assert _value(samples, "onramp_connections_never_synced", app="second-app") == 0


def test_a_connection_keap_pushes_changes_for_is_behind_only_by_deliveries_not_yet_applied(
    anon_client, metrics_token
):
    now = timezone.now()
    quiet, busy, failing = (ConnectionFactory() for _ in range(3))
    for connection, status in ((quiet, "verified"), (busy, "verified"), (failing, "failing")):
        # Each last polled or reconciled two days ago.
        _run(connection, SyncRun.Status.SUCCEEDED, finished=now - timedelta(days=2))
        HookEndpoint.objects.create(connection=connection, secret_digest="x", status=status)
    for minutes_ago, applied in ((10, False), (4, False), (30, True)):
        HookDelivery.objects.create(
            connection_id=busy.pk, event_key="contact.edit", ids=[[1, ""]],
            received_at=now - timedelta(minutes=minutes_ago),
            applied_at=now if applied else None,
        )  # fmt: skip
    HookDelivery.objects.create(connection_id=failing.pk, event_key="contact.add", ids=[[2, ""]])

    samples = _scrape(anon_client)

    main = DeveloperApp.objects.current().client_id
    # quiet: 0; busy: its oldest unapplied delivery, 10 minutes; failing (polled): two days.
    assert _value(samples, "onramp_sync_lag_max_seconds", app=main) == pytest.approx(
        2 * 86_400, abs=30
    )
    assert _value(samples, "onramp_sync_lag_mean_seconds", app=main) == pytest.approx(
        (0 + 600 + 2 * 86_400) / 3, abs=30
    )
    assert _value(samples, "onramp_hook_endpoints", app=main, status="verified") == 2
    assert _value(samples, "onramp_hook_endpoints", app=main, status="failing") == 1
    assert _value(samples, "onramp_hook_endpoints", app=main, status="subscribing") == 0
    assert _value(samples, "onramp_hook_deliveries_pending", app=main) == 3

    KeapConnection.objects.filter(pk=failing.pk).update(status=Status.PAUSED)
    samples = _scrape(anon_client)
    assert _value(samples, "onramp_sync_lag_max_seconds", app=main) == pytest.approx(600, abs=30)
    assert _value(samples, "onramp_hook_endpoints", app=main, status="failing") == 0


def _run(connection, status, *, finished):
    return SyncRun.objects.create(
        connection=connection, kind=SyncRun.Kind.INCREMENTAL, status=status, finished_at=finished
    )


def test_queue_depth_counts_the_messages_waiting_in_each_lane(
    anon_client, metrics_token, empty_lanes
):
    for lane, count in (("interactive", 2), ("bulk", 3)):
        for _ in range(count):
            celery_app.send_task("tests.observability.never_run", queue=lane)

    samples = _scrape(anon_client)

    assert _value(samples, "onramp_queue_depth", queue="interactive") == 2
    assert _value(samples, "onramp_queue_depth", queue="bulk") == 3
    assert _value(samples, "onramp_broker_up") == 1


def test_an_unreachable_broker_shows_as_down_and_the_rest_still_answers(
    anon_client, metrics_token, settings, closed_port
):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"
    ConnectionFactory()

    samples = _scrape(anon_client)

    assert _value(samples, "onramp_broker_up") == 0
    assert not [name for name, _ in samples if name == "onramp_queue_depth"]
    main = DeveloperApp.objects.current().client_id
    assert _value(samples, "onramp_connections", app=main, status="active") == 1
