"""Campaign goals: the panel on the connection page, API keys, and the bearer-key JSON API."""

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.connections.models import KeapConnection
from webapp.goals import flows
from webapp.goals.forms import ApiKeyForm, GoalForm
from webapp.goals.models import ApiKey, GoalCompletion

LATEST = 10
MAX_API_BODY_BYTES = 10_000
API_FIELDS = {"contact_id", "call_name", "integration", "idempotency_key"}


def _get_connection_for_user(request: HttpRequest, pk: int) -> KeapConnection:
    """The connection if it belongs to the signed-in customer; 404 for anyone else's."""
    return get_object_or_404(KeapConnection.objects.owned_by(request.user), pk=pk)


def _completions(connection: KeapConnection) -> list[GoalCompletion]:
    return list(
        GoalCompletion.objects.for_connection(connection).select_related(
            "requested_by", "requested_with_key"
        )[:LATEST]
    )


def panel_context(
    request: HttpRequest, connection: KeapConnection, form: GoalForm | None = None
) -> dict[str, Any]:
    """What templates/goals/_panel.html needs, to merge into the connection page's context."""
    completions = _completions(connection)
    return {
        "connection": connection,
        "goal_form": form or GoalForm.fresh(app_name=connection.app_name),
        "goal_completions": completions,
        "goals_pending": any(c.is_pending for c in completions),
    }


def _panel(request: HttpRequest, connection: KeapConnection, form: GoalForm | None = None):
    return render(request, "goals/_panel.html", panel_context(request, connection, form))


def _back(request: HttpRequest, connection: KeapConnection) -> HttpResponse:
    """htmx gets the panel fragment; a plain browser goes back to the connection page."""
    if request.htmx:
        return _panel(request, connection)
    return redirect("connections:detail", pk=connection.pk)


@require_GET
@login_required
def connection_goals(request: HttpRequest, pk: int) -> HttpResponse:
    """The goal panel: a page of its own, or the fragment for htmx."""
    connection = _get_connection_for_user(request, pk)
    if request.htmx:
        return _panel(request, connection)
    return render(request, "goals/connection_goals.html", panel_context(request, connection))


@require_GET
@login_required
def completions(request: HttpRequest, pk: int) -> HttpResponse:
    """The latest completions (the fragment htmx polls while any is pending)."""
    connection = _get_connection_for_user(request, pk)
    return render(request, "goals/_completions.html", panel_context(request, connection))


@require_POST
@login_required
def request_goal(request: HttpRequest, pk: int) -> HttpResponse:
    """Complete a goal from the panel's form (once per form render)."""
    connection = _get_connection_for_user(request, pk)
    form = GoalForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.as_data())
        completion, created = flows.request_goal(
            connection=connection, requested_by=request.user, **form.cleaned_data
        )
    except (ValidationError, flows.IdempotencyConflict) as exc:
        if request.htmx:
            _add_form_errors(form, exc)
            return _panel(request, connection, form)
        messages.error(request, f"The goal was not sent: {'; '.join(_messages(exc))}")
        return redirect("connections:detail", pk=connection.pk)
    if created:
        messages.success(
            request, f"Goal {completion.call_name} queued for {completion.contact_id}."
        )
    return _back(request, connection)


@require_POST
@login_required
def send_again(request: HttpRequest, pk: int, completion_id: int) -> HttpResponse:
    """A person chose to send an uncertain (or failed) goal again."""
    connection = _get_connection_for_user(request, pk)
    completion = get_object_or_404(connection.goal_completions, pk=completion_id)
    if flows.send_again(completion=completion):
        messages.success(request, f"Goal {completion.call_name} sent again.")
    else:
        messages.error(request, "That goal is not waiting for a decision any more.")
    return _back(request, connection)


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{field}: {msg}" for field, errs in exc.message_dict.items() for msg in errs]
    return [str(exc)]


def _add_form_errors(form: GoalForm, exc: Exception) -> None:
    if isinstance(exc, ValidationError) and form.is_bound and not form.errors:
        for field, errs in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    elif not isinstance(exc, ValidationError):
        form.add_error(None, str(exc))


# --- API keys ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
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
def revoke_api_key(request: HttpRequest, key_id: int) -> HttpResponse:
    """Revoke one of the customer's API keys: it stops working at once."""
    key = get_object_or_404(ApiKey.objects.owned_by(request.user), pk=key_id)
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    messages.success(request, f"Revoked API key {key.name}.")
    return redirect("goals:api_keys")


# --- JSON API (bearer key) --------------------------------------------------------------------


def _error(status: int, message: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"error": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="onramp"'
    return response


def _api_key(request: HttpRequest) -> ApiKey | None:
    """The usable key in `Authorization: Bearer ...`, or None. The key is never logged."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    key = ApiKey.authenticate(presented.strip())
    if key is not None:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def _goal_body(request: HttpRequest) -> dict[str, Any]:
    """The JSON body, checked for shape and types; ValueError with a clear message otherwise."""
    length = request.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > MAX_API_BODY_BYTES:
        raise ValueError(f"The body is larger than {MAX_API_BODY_BYTES} bytes.")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValueError("The body must be a JSON object.")
    unknown = sorted(set(body) - API_FIELDS)
    if unknown:
        raise ValueError(f"Unknown field(s): {', '.join(unknown)}.")
    missing = sorted({"contact_id", "call_name", "idempotency_key"} - set(body))
    if missing:
        raise ValueError(f"Missing field(s): {', '.join(missing)}.")
    contact_id = body["contact_id"]
    if isinstance(contact_id, bool) or not isinstance(contact_id, int):
        raise ValueError("contact_id must be an integer.")
    for name in ("call_name", "integration", "idempotency_key"):
        if name in body and not isinstance(body[name], str):
            raise ValueError(f"{name} must be a string.")
    return body


@csrf_exempt  # bearer-key authentication only: no cookie, so no cross-site request to forge
@require_POST
def api_request_goal(request: HttpRequest, pk: int) -> JsonResponse:
    """POST /goals/api/connections/<pk>/goals: queue a goal completion; 202 with its JSON."""
    key = _api_key(request)
    if key is None:
        return _error(401, "Send a valid API key as 'Authorization: Bearer <key>'.")
    connection = KeapConnection.objects.owned_by(key.owner).filter(pk=pk).first()
    if connection is None:
        return _error(404, f"No connection {pk} for this API key.")
    try:
        completion, created = flows.request_goal(
            connection=connection, requested_by=key, **_goal_body(request)
        )
    except ValueError as exc:
        return _error(400, str(exc))
    except ValidationError as exc:
        return _error(400, "The goal is not valid.", fields=exc.message_dict)
    except flows.IdempotencyConflict as exc:
        return _error(409, str(exc))
    response = JsonResponse(completion.as_json(), status=202)
    response["Location"] = reverse("goals:api_completion", args=[completion.pk])
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


@csrf_exempt
@require_GET
def api_completion(request: HttpRequest, completion_id: int) -> JsonResponse:
    """GET /goals/api/completions/<id>: poll a completion's status and Keap's answer."""
    key = _api_key(request)
    if key is None:
        return _error(401, "Send a valid API key as 'Authorization: Bearer <key>'.")
    completion = GoalCompletion.objects.owned_by(key.owner).filter(pk=completion_id).first()
    if completion is None:
        return _error(404, f"No goal completion {completion_id} for this API key.")
    return JsonResponse(completion.as_json())
