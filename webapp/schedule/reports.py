"""The day's plan for the operations page: spend by kind, the projection, the queue, hooks."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count

from webapp.connections.models import KeapConnection
from webapp.hooks.models import HookEndpoint
from webapp.keap.models import DeveloperApp
from webapp.schedule.models import PlanSnapshot
from webapp.schedule.planner import Kind

LABELS = {
    Kind.GOALS: "Goals (people waiting; the interactive reserve)",
    Kind.CHANGES: "Changes Keap pushed (REST hooks)",
    Kind.UPKEEP: "Hook checks and subscriptions",
    Kind.POLLING: "Polling connections without healthy hooks",
    Kind.INITIAL: "Initial syncs of new connections",
    Kind.RECONCILE: "Reconcile passes (full syncs, rotated)",
}
QUEUE_SHOWN = 10


@dataclass
class PlanView:
    made_at: datetime | None = None
    limit: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    spent: int = 0
    projected: int = 0
    projected_percent: float | None = None
    reserve: int = 0
    poll_minutes: int = 0
    unhooked: int = 0
    pass_days: float | None = None
    queue: list[dict[str, Any]] = field(default_factory=list)
    queue_length: int = 0
    hooks: dict[str, int] = field(default_factory=dict)


def plan_view(app: DeveloperApp) -> PlanView:
    """The app's latest plan (made every minute by beat), as the page shows it."""
    view = PlanView(hooks=_hooks_by_status(app))
    snapshot = PlanSnapshot.objects.filter(app=app).first()
    if snapshot is None:
        return view
    data = snapshot.data
    budget, spent = data.get("budget", {}), data.get("spent", {})
    view.made_at = snapshot.made_at
    view.limit = int(data.get("limit") or 0)
    view.rows = [
        {
            "kind": kind.value,
            "label": LABELS[kind],
            "spent": int(spent.get(kind, 0)),
            "planned": int(budget.get(kind, 0)),
        }
        for kind in Kind
    ]
    view.spent = int(data.get("spent_total") or 0)
    view.projected = int(data.get("projected") or 0)
    view.projected_percent = round(100 * view.projected / view.limit, 1) if view.limit else None
    view.reserve = int(data.get("reserve") or 0)
    view.poll_minutes = max(1, round(float(data.get("poll_interval_s") or 0) / 60))
    view.unhooked = int(data.get("unhooked") or 0)
    view.pass_days = data.get("reconcile_pass_days")
    queue = data.get("initial_queue") or []
    view.queue_length = len(queue)
    names = dict(
        KeapConnection.objects.filter(pk__in=[pk for pk, _ in queue[:QUEUE_SHOWN]]).values_list(
            "pk", "app_name"
        )
    )
    view.queue = [
        {"app_name": names.get(pk, f"#{pk}"), "starts": datetime.fromtimestamp(at, tz=UTC)}
        for pk, at in queue[:QUEUE_SHOWN]
    ]
    return view


def _hooks_by_status(app: DeveloperApp) -> dict[str, int]:
    active = KeapConnection.objects.active().filter(developer_app=app)
    counts = {
        row["status"]: row["n"]
        for row in HookEndpoint.objects.filter(connection__in=active)
        .values("status")
        .annotate(n=Count("pk"))
    }
    counts["none"] = active.filter(hook_endpoint__isnull=True).count()
    return counts
