"""How a connection's copy is kept current, in words for its page: pushed by Keap, or polled."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Max

from webapp.connections.models import KeapConnection
from webapp.hooks.models import HookDelivery, HookEndpoint
from webapp.http import CustomerRequest
from webapp.schedule.models import PlanSnapshot


def panel_context(request: CustomerRequest, connection: KeapConnection) -> dict[str, Any]:
    """What templates/hooks/_status.html needs, to merge into the connection page's context."""
    endpoint = HookEndpoint.objects.filter(connection=connection).first()
    last: datetime | None = HookDelivery.objects.filter(connection_id=connection.pk).aggregate(
        last=Max("received_at")
    )["last"]
    return {
        "hooks": {
            "enabled": settings.HOOKS_ENABLED,
            "status": endpoint.status if endpoint else "",
            "detail": endpoint.detail if endpoint else "",
            "next_check_at": endpoint.next_check_at if endpoint else None,
            "last_delivery_at": last,
            "poll_minutes": _poll_minutes(connection),
        }
    }


def _poll_minutes(connection: KeapConnection) -> int:
    """How often the day's plan polls connections Keap does not push for (minutes)."""
    data: dict[str, Any] = (
        PlanSnapshot.objects.filter(app_id=connection.developer_app_id)
        .values_list("data", flat=True)
        .first()
        or {}
    )
    interval = data.get("poll_interval_s") or settings.SYNC_INTERVAL_SECONDS
    return max(1, round(float(interval) / 60))
