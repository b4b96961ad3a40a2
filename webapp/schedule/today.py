"""Today's plan for a developer app, from Onramp's database: the planner's inputs and its answer.

webapp.schedule.planner decides; this module reads what it needs (every active connection's
state, what was spent today and in the last hour, what running work will still spend), and starts
the work the plan names. What a call was spent on comes from two places: sync runs count their
own calls by kind (initial, polling, reconcile, changes); goals and hook upkeep are told apart in
the usage rollups by operation.
"""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from webapp.connections.models import KeapConnection
from webapp.hooks.models import HookEndpoint
from webapp.keap.models import DeveloperApp
from webapp.schedule import planner
from webapp.schedule.models import PlanSnapshot
from webapp.schedule.planner import ConnectionState, Kind, Plan, Policy, Work
from webapp.sync.models import SyncRun
from webapp.usage.models import UsageMinute

RUN_KIND: dict[str, Kind] = {
    SyncRun.Kind.INITIAL: Kind.INITIAL,
    SyncRun.Kind.INCREMENTAL: Kind.POLLING,
    SyncRun.Kind.RECONCILE: Kind.RECONCILE,
    SyncRun.Kind.CHANGES: Kind.CHANGES,
}
START = {
    Kind.POLLING: SyncRun.Kind.INCREMENTAL,
    Kind.INITIAL: SyncRun.Kind.INITIAL,
    Kind.RECONCILE: SyncRun.Kind.RECONCILE,
}
# Queued while a hook check waits for a worker, so the next plans do not queue it again.
CHECK_LEASE = timedelta(minutes=15)


def policy() -> Policy:
    return Policy(
        target_share=float(settings.SCHEDULE_TARGET_SHARE),
        page_size=int(settings.SYNC_PAGE_SIZE),
        ids_per_call=int(settings.HOOKS_IDS_PER_CALL),
        poll_min_s=float(settings.SYNC_INTERVAL_SECONDS),
        poll_max_s=float(settings.SCHEDULE_POLL_MAX_SECONDS),
        reconcile_min_s=float(settings.SCHEDULE_RECONCILE_MIN_SECONDS),
    )


def connection_states(app: DeveloperApp) -> list[ConnectionState]:
    """Every active connection of the app, as the planner sees it (one query)."""
    succeeded = SyncRun.objects.filter(connection=OuterRef("pk"), status=SyncRun.Status.SUCCEEDED)
    full = succeeded.filter(kind__in=(SyncRun.Kind.INITIAL, SyncRun.Kind.RECONCILE))
    latest_full = full.order_by("-finished_at", "-pk")
    rows = (
        KeapConnection.objects.active()
        .filter(developer_app=app)
        .annotate(
            size=Coalesce(
                Subquery(latest_full.values("fetched")[:1]),
                Subquery(
                    SyncRun.objects.filter(connection=OuterRef("pk"))
                    .order_by("-pk")
                    .values("total_estimate")[:1]
                ),
                Value(0),
            ),
            reconciled_at=Subquery(latest_full.values("finished_at")[:1]),
            polled_at=Subquery(
                succeeded.exclude(kind=SyncRun.Kind.CHANGES)
                .order_by("-finished_at", "-pk")
                .values("finished_at")[:1]
            ),
            busy=Exists(SyncRun.objects.active().filter(connection=OuterRef("pk"))),
            hook_status=F("hook_endpoint__status"),
            next_check_at=F("hook_endpoint__next_check_at"),
        )
    ).values(
        "pk", "size", "reconciled_at", "polled_at", "busy", "hook_status",
        "next_check_at", "connected_at", "created_at",
    )  # fmt: skip
    hooks = settings.HOOKS_ENABLED
    states = []
    for row in rows:
        connected = row["connected_at"] or row["created_at"]
        check_due = row["next_check_at"]
        if hooks and row["hook_status"] is None:
            check_due = connected  # never subscribed: subscribe now
        states.append(
            ConnectionState(
                id=row["pk"],
                contacts=int(row["size"] or 0),
                hooked=row["hook_status"] == HookEndpoint.Status.VERIFIED,
                synced=row["reconciled_at"] is not None,
                connected_at=connected.timestamp(),
                polled_at=_epoch(row["polled_at"]),
                reconciled_at=_epoch(row["reconciled_at"]),
                check_due_at=_epoch(check_due) if hooks else None,
                busy=bool(row["busy"]),
            )
        )
    return states


def spent(app: DeveloperApp, since: datetime) -> dict[Kind, int]:
    """Calls to Keap since `since`, by what they were spent on."""
    by_kind = dict.fromkeys(Kind, 0)
    runs = (
        SyncRun.objects.filter(connection__developer_app=app, created_at__gte=since)
        .values("kind")
        .annotate(calls=Sum("calls"))
    )
    for row in runs:
        by_kind[RUN_KIND[row["kind"]]] += int(row["calls"] or 0)
    usage = UsageMinute.objects.filter(app=app.client_id, minute__gte=since).aggregate(
        goals=Coalesce(Sum("calls", filter=Q(operation__startswith="goals.")), 0),
        upkeep=Coalesce(Sum("calls", filter=Q(operation__startswith="hooks.")), 0),
    )
    by_kind[Kind.GOALS] += int(usage["goals"])
    by_kind[Kind.UPKEEP] += int(usage["upkeep"])
    return by_kind


def in_flight(app: DeveloperApp, pol: Policy) -> dict[Kind, int]:
    """What runs already queued or working will still spend, by kind."""
    remaining = dict.fromkeys(Kind, 0)
    for run in (
        SyncRun.objects.active()
        .filter(connection__developer_app=app)
        .values("kind", "calls", "total_estimate")
    ):
        kind = RUN_KIND[run["kind"]]
        if kind in (Kind.INITIAL, Kind.RECONCILE):
            expected = planner.full_sync_calls(run["total_estimate"] or 0, pol)
        else:
            expected = 1
        remaining[kind] += max(expected - int(run["calls"]), 0)
    return remaining


def make_plan(app: DeveloperApp, now: datetime | None = None) -> tuple[Plan, list[ConnectionState]]:
    """The app's plan for the rest of today, and the connections it was made from."""
    now = now or timezone.now()
    pol = policy()
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    states = connection_states(app)
    last_hour = spent(app, now - timedelta(hours=1))
    plan = planner.plan_day(
        now=now.timestamp(),
        limit=app.limit_per_day if app.limit_per_day is not None else 10**9,
        reserve_share=float(app.interactive_reserve),
        per_minute=app.limit_per_minute,
        connections=states,
        spent=spent(app, day_start),
        hourly={kind: float(calls) for kind, calls in last_hour.items()},
        policy=pol,
    )
    return plan, states


def act(app: DeveloperApp, now: datetime | None = None) -> list[Work]:
    """Plan the app's day, start what is due, and keep the plan for the operations page."""
    from webapp.hooks import tasks as hook_tasks
    from webapp.sync import flows

    plan, states = make_plan(app, now)
    pol = policy()
    work = planner.due(plan, states, in_flight=in_flight(app, pol), policy=pol)
    started = []
    for item in work:
        if item.kind is Kind.UPKEEP:
            if _lease_check(item.connection_id):
                hook_tasks.check_hooks.delay_on_commit(connection_id=item.connection_id)
                started.append(item)
            continue
        connection = KeapConnection.objects.get(pk=item.connection_id)
        with transaction.atomic():
            if flows.start_sync(connection=connection, kind=START[item.kind]) is not None:
                started.append(item)
    save(app, plan)
    return started


def initial_sync_now(app: DeveloperApp) -> bool:
    """Whether a new connection's first sync may start at once: unless the app's latest plan
    says today's budget for initial syncs is spent (then the plan starts it, in turn)."""
    data = PlanSnapshot.objects.filter(app=app).values_list("data", flat=True).first()
    if not data or data.get("day_start", 0) + planner.DAY <= timezone.now().timestamp():
        return True
    budget, spent_ = data.get("budget", {}), data.get("spent", {})
    return int(budget.get(Kind.INITIAL, 0)) > int(spent_.get(Kind.INITIAL, 0))


def _lease_check(connection_id: int) -> bool:
    """Mark a hook check as queued (or the first subscription, for a connection that has none)."""
    until = timezone.now() + CHECK_LEASE
    endpoint, created = HookEndpoint.objects.get_or_create(
        connection_id=connection_id, defaults={"next_check_at": until}
    )
    if created:
        return True
    return bool(
        HookEndpoint.objects.filter(
            Q(next_check_at__isnull=True) | Q(next_check_at__lte=timezone.now()),
            pk=endpoint.pk,
        ).update(next_check_at=until)
    )


def save(app: DeveloperApp, plan: Plan) -> None:
    data: dict[str, Any] = asdict(plan)
    data["projected"] = plan.projected
    data["spent_total"] = plan.spent_total
    PlanSnapshot.objects.update_or_create(
        app=app, defaults={"made_at": timezone.now(), "data": data}
    )


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None
