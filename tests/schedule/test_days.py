"""Days passing in seconds (time-machine moves Onramp's clock): the plan at work end to end, with
the sandbox, the database and the sync code, as beat and the worker would run it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.conftest import point_onramp_at
from tests.sandbox.server import run_sandbox
from tests.sync.conftest import drive
from webapp import limiter
from webapp.connections import tasks as connection_tasks
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.hooks.models import HookEndpoint
from webapp.keap.models import DeveloperApp
from webapp.limiter.db_backend import DatabaseLimiter
from webapp.schedule import planner, today
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


def _next_midnight(after: datetime) -> datetime:
    return after.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=1
    )


@pytest.fixture
def onramp_clock(monkeypatch):
    """The limiter reads Onramp's clock (which time-machine moves) rather than the database's."""

    def now_us() -> int:
        return int(datetime.now(UTC).timestamp() * 1_000_000)

    clocked = DatabaseLimiter(clock=now_us)
    monkeypatch.setattr(limiter, "get_limiter", lambda: clocked)


@pytest.fixture
def six_synced(owner_client, connect, make_tenant, enqueued, sync_settings, onramp_clock):
    """Six connections synced today, whose changes Keap pushes (so the plan neither polls them
    nor checks their hooks), on a developer app of 10 calls a day; and the first midnight at
    least a day later, when their plan is watched (returned)."""
    sync_settings.SYNC_PAGE_SIZE = 20
    connections = []
    for _ in range(6):
        connections.append(connect(owner_client, app=make_tenant(20)))
        assert drive(enqueued[-1]).status == "succeeded"
    day1 = _next_midnight(timezone.now() + timedelta(days=1))
    for connection in connections:
        HookEndpoint.objects.create(
            connection=connection, status="verified", next_check_at=day1 + timedelta(days=30)
        )
    DeveloperApp.objects.update(limit_per_day=10, interactive_reserve="0.10")
    return connections, day1


def _ticks(enqueued, start: datetime, hours: int) -> list[SyncRun]:
    """Beat's plan every hour, the worker working what it starts; the reconciles, in order."""
    app = DeveloperApp.objects.get()
    for hour in range(hours):
        with time_machine.travel(start + timedelta(hours=hour), tick=True):
            before = len(enqueued)
            today.act(app)
            for run_id in enqueued[before:]:
                assert drive(run_id).status == "succeeded"
    return list(SyncRun.objects.filter(kind="reconcile").order_by("pk"))


def test_reconciles_rotate_oldest_first_spread_over_the_days_the_budget_needs(six_synced, enqueued):
    connections, day1 = six_synced
    first_synced = [c.pk for c in connections]

    reconciles = _ticks(enqueued, day1, 48)

    # A day of 10 calls keeps 8 for bulk work: four full syncs of two calls (count and a page).
    by_day: dict[int, list[SyncRun]] = {}
    for run in reconciles:
        by_day.setdefault(run.created_at.day, []).append(run)
    assert sorted(by_day) == [day1.day, (day1 + timedelta(days=1)).day]
    assert all(sum(run.calls for run in runs) <= 8 for runs in by_day.values())
    assert [run.connection_id for run in reconciles[:6]] == first_synced  # oldest first
    hours = {run.created_at.hour for run in by_day[day1.day]}
    assert len(hours) == len(by_day[day1.day])  # one at a time through the day, not all at once
    with time_machine.travel(day1 + timedelta(days=1, hours=1)):
        plan, _ = today.make_plan(DeveloperApp.objects.get())
    assert plan.reconcile_pass_days is not None and 1 <= plan.reconcile_pass_days <= 2


def test_the_budget_resets_at_midnight_utc(six_synced, enqueued):
    _, day1 = six_synced
    _ticks(enqueued, day1, 24)
    app = DeveloperApp.objects.get()

    with time_machine.travel(day1 + timedelta(hours=23, minutes=59)):
        late, _ = today.make_plan(app)
    with time_machine.travel(day1 + timedelta(days=1, minutes=1)):
        early, _ = today.make_plan(app)

    assert late.spent[planner.Kind.RECONCILE] > 0
    assert early.spent[planner.Kind.RECONCILE] == 0
    assert (
        early.budget[planner.Kind.RECONCILE]
        > late.budget[planner.Kind.RECONCILE] - late.spent[planner.Kind.RECONCILE]
    )


@pytest.fixture
def own_keap(tmp_path, settings):
    """A sandbox of this test's own: its clock is moved by weeks, as Onramp's is."""
    with run_sandbox(tmp_path / "keap") as sandbox:
        yield point_onramp_at(sandbox, settings)


def test_a_month_passes_and_keep_alive_refreshes_the_idle_connection(
    own_keap, connect, owner_client, eager_celery
):
    connection = connect(owner_client, app="ab123")
    issued = connection.refresh_token_issued_at

    with time_machine.travel(timezone.now() + timedelta(days=10), tick=True):
        assert connection_tasks.keep_alive.apply().get() == 0  # ten days idle: not yet
    own_keap.advance_clock(31 * 86_400)
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=True):
        assert connection_tasks.keep_alive.apply().get() == 1

    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert connection.refresh_token_issued_at > issued + timedelta(days=30)
    assert connection.events.filter(kind=ConnectionEvent.Kind.REFRESHED, detail="keep-alive")
