"""Usage on the connection page: today's calls against Keap's limits, rates, latency, charts."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from webapp.connections.access import connection_for_user
from webapp.connections.models import KeapConnection
from webapp.http import CustomerRequest
from webapp.usage import reports
from webapp.usage.models import UsageTotals

CHART_WIDTH, CHART_HEIGHT = 720, 120
# The "current rate" is the average over this many recent minutes.
RATE_MINUTES = 5


@dataclass(frozen=True)
class Bar:
    """One bar's geometry, already formatted: the template prints these strings as they are.

    Numbers given to a template go through Django's localisation one by one, which for two charts
    of 126 bars costs more than every query of the page; strings skip it.
    """

    x: str
    y: str
    width: str
    height: str
    label: str
    calls: str
    errors: int


def _num(value: float) -> str:
    return f"{round(value, 2):g}"


def _bars(points: list[tuple[str, int, int]]) -> list[Bar]:
    """Server-rendered bar chart geometry (no chart library, nothing from a CDN)."""
    peak = max((calls for _, calls, _ in points), default=0) or 1
    step = CHART_WIDTH / max(len(points), 1)
    return [
        Bar(
            x=_num(i * step),
            y=_num(CHART_HEIGHT - CHART_HEIGHT * calls / peak),
            width=_num(max(step - 1, 1)),
            height=_num(CHART_HEIGHT * calls / peak),
            label=label,
            calls=str(calls),
            errors=errors,
        )
        for i, (label, calls, errors) in enumerate(points)
    ]


def panel_context(request: CustomerRequest, connection: KeapConnection) -> dict[str, Any]:
    """Everything the usage panel shows, read from rollups only (fast with years of history)."""
    app = connection.developer_app
    # This connection's operations today, and its total as their sum (one read for both).
    operations = reports.today(app=app.client_id, connection_id=connection.pk).by_operation()
    mine = UsageTotals.combined(t for _, t in operations)
    tenant = reports.calls_today(app=app.client_id, tenant=connection.app_name)
    minutes = reports.minute_series(app=app.client_id, connection_id=connection.pk)
    recent = sum(totals.calls for _, totals in minutes[-RATE_MINUTES:])
    # 24 hours as 96 quarter-hour bars.
    quarters = [
        (
            minutes[i][0].strftime("%H:%M"),
            sum(t.calls for _, t in minutes[i : i + 15]),
            sum(t.errors for _, t in minutes[i : i + 15]),
        )
        for i in range(0, len(minutes), 15)
    ]
    days = reports.day_series(app=app.client_id, connection_id=connection.pk)
    return {
        "usage": {
            "today": mine,
            "tenant_today": tenant,
            "tenant_limit": app.tenant_limit_per_day,
            "tenant_share": reports.share(tenant.calls, app.tenant_limit_per_day),
            "app_limit": app.limit_per_day,
            "app_share": reports.share(mine.calls, app.limit_per_day),
            "rate_per_minute": round(recent / RATE_MINUTES, 1),
            "operations": operations,
            "hours_chart": _bars(quarters),
            "days_chart": _bars([(day.strftime("%b %d"), t.calls, t.errors) for day, t in days]),
            "chart_width": CHART_WIDTH,
            "chart_height": CHART_HEIGHT,
            "as_of": timezone.now(),
            "flush_lag": timedelta(seconds=5),
        }
    }


@require_GET
@login_required
def panel(request: CustomerRequest, pk: int) -> HttpResponse:
    """The usage panel alone, for htmx to refresh in place."""
    connection = connection_for_user(request, pk)
    context = {"connection": connection, **panel_context(request, connection)}
    return render(request, "usage/_panel.html", context)
