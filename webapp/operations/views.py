"""The operations page: every developer app's budget, live; the queues; what failed; CSV export."""

import csv
from datetime import UTC
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from webapp.keap.models import DeveloperApp
from webapp.operations import charts, reports
from webapp.operations.access import staff_required
from webapp.operations.forms import UsageExportForm
from webapp.operations.queues import queue_depths
from webapp.schedule.reports import plan_view

# The CSV header, and the query row field under each.
CSV_COLUMNS = ("day", "developer_app", "tenant", "calls", "errors", "throttled", "responses_429",
               "retries")  # fmt: skip
ROW_FIELDS = ("day", "app", "tenant", "calls", "errors", "throttled", "responses_429", "retries")


def _apps_context() -> dict[str, Any]:
    now = timezone.now().astimezone(UTC)
    overviews = [
        reports.app_overview(app, now=now) for app in DeveloperApp.objects.order_by("name")
    ]
    for overview in overviews:
        overview.extra["hour_chart"] = charts.event_svg(
            overview.events_by_hour, "Throttled calls and errors per hour, last 24 hours"
        )
        overview.extra["day_chart"] = charts.event_svg(
            overview.events_by_day, "Throttled calls and errors per day, last 30 days"
        )
        overview.extra["plan"] = plan_view(overview.app)
    return {"overviews": overviews, "as_of": now}


def _work_context() -> dict[str, Any]:
    return {
        "queues": queue_depths(),
        "failed_syncs": reports.recent_failed_syncs(),
        "failed_goals": reports.recent_failed_goals(),
    }


@require_GET
@staff_required
def index(request: HttpRequest) -> HttpResponse:
    """The whole operations page."""
    context = {**_apps_context(), **_work_context(), "export_form": UsageExportForm()}
    return render(request, "operations/index.html", context)


@require_GET
@staff_required
def apps_panel(request: HttpRequest) -> HttpResponse:
    """The developer apps' usage alone, for htmx to refresh every few seconds."""
    return render(request, "operations/index.html#apps", _apps_context())


@require_GET
@staff_required
def work_panel(request: HttpRequest) -> HttpResponse:
    """Queues and failed jobs alone, for htmx to refresh every few seconds."""
    return render(request, "operations/index.html#work", _work_context())


def _cell(value: object) -> object:
    # A spreadsheet runs a cell starting with one of these as a formula; tenant names come from Keap.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@require_GET
@staff_required
def usage_csv(request: HttpRequest) -> HttpResponse:
    """Calls per tenant and UTC day over a date range, as CSV (400 with the reason on bad input)."""
    form = UsageExportForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(map(str, errors))}"
            if name != "__all__"
            else " ".join(map(str, errors))
            for name, errors in form.errors.items()
        )
        return HttpResponse(
            f"Bad export request. {problems}\n", status=400, content_type="text/plain"
        )
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="usage-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in reports.usage_by_tenant_and_day(
        start=start, end=end, app=form.cleaned_data["app"] or None
    ):
        writer.writerow([_cell(row[name]) for name in ROW_FIELDS])
    return response
