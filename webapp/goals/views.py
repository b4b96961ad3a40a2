"""Campaign goals in the browser: the panel on the connection page, and API keys.

The bearer-key JSON API is webapp.goals.api.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.connections.access import connection_for_user
from webapp.connections.models import KeapConnection
from webapp.goals import flows
from webapp.goals.forms import ApiKeyForm, GoalForm
from webapp.goals.models import ApiKey, GoalCompletion
from webapp.http import CustomerRequest

LATEST = 10
PANEL = "goals/_panel.html"


def _completions(connection: KeapConnection) -> list[GoalCompletion]:
    return list(
        GoalCompletion.objects.for_connection(connection).select_related(
            "requested_by", "requested_with_key"
        )[:LATEST]
    )


def panel_context(
    request: CustomerRequest, connection: KeapConnection, form: GoalForm | None = None
) -> dict[str, Any]:
    """What templates/goals/_panel.html needs, to merge into the connection page's context."""
    completions = _completions(connection)
    return {
        "connection": connection,
        "goal_form": form or GoalForm.fresh(app_name=connection.app_name),
        "goal_completions": completions,
        "goals_pending": any(c.is_pending for c in completions),
    }


def _panel(
    request: CustomerRequest, connection: KeapConnection, form: GoalForm | None = None
) -> HttpResponse:
    return render(request, PANEL, panel_context(request, connection, form))


def _back(request: CustomerRequest, connection: KeapConnection) -> HttpResponse:
    """htmx gets the panel fragment; a plain browser goes back to the connection page."""
    if request.htmx:
        return _panel(request, connection)
    return redirect("connections:detail", pk=connection.pk)


@require_GET
@login_required
def connection_goals(request: CustomerRequest, pk: int) -> HttpResponse:
    """The goal panel: a page of its own, or the fragment for htmx."""
    connection = connection_for_user(request, pk)
    if request.htmx:
        return _panel(request, connection)
    return render(request, "goals/connection_goals.html", panel_context(request, connection))


@require_GET
@login_required
def completions(request: CustomerRequest, pk: int) -> HttpResponse:
    """The latest completions (the fragment htmx polls while any is pending)."""
    connection = connection_for_user(request, pk)
    return render(request, f"{PANEL}#completions", panel_context(request, connection))


@require_POST
@login_required
def request_goal(request: CustomerRequest, pk: int) -> HttpResponse:
    """Complete a goal from the panel's form (once per form render)."""
    connection = connection_for_user(request, pk)
    form = GoalForm(request.POST, app_name=connection.app_name)
    if form.is_valid() and form.goal is not None:
        try:
            completion, created = flows.request_goal(
                connection=connection, goal=form.goal, requested_by=request.user
            )
        except flows.IdempotencyConflict as exc:
            form.add_error(None, str(exc))
        else:
            if created:
                messages.success(
                    request, f"Goal {completion.call_name} queued for {completion.contact_id}."
                )
            return _back(request, connection)
    if request.htmx:
        return _panel(request, connection, form)
    problems = [
        f"{'' if field == '__all__' else f'{field}: '}{message}"
        for field, errors in form.errors.items()
        for message in errors
    ]
    messages.error(request, f"The goal was not sent: {'; '.join(problems)}")
    return redirect("connections:detail", pk=connection.pk)


@require_POST
@login_required
def send_again(request: CustomerRequest, pk: int, completion_id: int) -> HttpResponse:
    """A person chose to send an uncertain (or failed) goal again."""
    connection = connection_for_user(request, pk)
    completion = get_object_or_404(connection.goal_completions, pk=completion_id)
    if flows.send_again(completion=completion):
        messages.success(request, f"Goal {completion.call_name} sent again.")
    else:
        messages.error(request, "That goal is not waiting for a decision any more.")
    return _back(request, connection)


# --- API keys ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def api_keys(request: CustomerRequest) -> HttpResponse:
    """List the customer's API keys and create one (its full value shown on this response only)."""
    form = ApiKeyForm(request.POST or None)
    new_key = ""
    if request.method == "POST" and form.is_valid():
        _, new_key = ApiKey.issue(owner=request.user, name=form.cleaned_data["name"])
        form = ApiKeyForm()
    keys = ApiKey.objects.owned_by(request.user)
    response = render(
        request, "goals/api_keys.html", {"form": form, "keys": keys, "new_key": new_key}
    )
    response["Cache-Control"] = "no-store"  # the key must not survive in a cache
    return response


@require_POST
@login_required
def revoke_api_key(request: CustomerRequest, key_id: int) -> HttpResponse:
    """Revoke one of the customer's API keys: it stops working at once."""
    key = get_object_or_404(ApiKey.objects.owned_by(request.user), pk=key_id)
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    messages.success(request, f"Revoked API key {key.name}.")
    return redirect("goals:api_keys")
