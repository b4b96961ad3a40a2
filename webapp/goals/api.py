"""The goal API for operators' systems: JSON over HTTP, authenticated by a customer's API key.

    POST /goals/api/connections/<id>/goals   {"contact_id", "call_name", "integration"?,
                                              "idempotency_key"}  -> 202 with the completion
    GET  /goals/api/completions/<id>                              -> the completion, polled

Every view here takes `Authorization: Bearer <key>` (api_key_required) and nothing else: no
session cookie, so no CSRF. Errors are JSON: `{"error": "...", "fields": {...}}`, with every
invalid field named at once (webapp.goals.validation).
"""

import functools
import json
from collections.abc import Callable
from typing import Any, Concatenate

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from webapp.connections.models import KeapConnection
from webapp.goals import flows
from webapp.goals.models import ApiKey, GoalCompletion
from webapp.goals.validation import GoalRequest

MAX_BODY_BYTES = 10_000
UNAUTHORIZED = "Send a valid API key as 'Authorization: Bearer <key>'."

ApiView = Callable[Concatenate[HttpRequest, ApiKey, ...], HttpResponse]


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"error": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="onramp"'
    return response


def api_key_required(view: ApiView) -> Callable[..., HttpResponse]:
    """Call `view(request, key, ...)` with the usable API key the request carries; 401 without.

    The key is looked up by its digest and never logged or echoed."""

    @csrf_exempt  # bearer-key authentication only: no cookie, so no cross-site request to forge
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        key = None
        if scheme.lower() == "bearer" and presented.strip():
            key = ApiKey.authenticate(presented.strip())
        if key is None:
            return error(401, UNAUTHORIZED)
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return view(request, key, *args, **kwargs)

    return wrapper


@require_POST
@api_key_required
def request_goal(request: HttpRequest, key: ApiKey, pk: int) -> HttpResponse:
    """Queue a goal completion for one of the key owner's connections; 202 with its JSON."""
    connection = KeapConnection.objects.owned_by(key.owner).filter(pk=pk).first()
    if connection is None:
        return error(404, f"No connection {pk} for this API key.")
    try:
        goal = GoalRequest.from_values(_json_object(request), app_name=connection.app_name)
        completion, created = flows.request_goal(connection=connection, goal=goal, requested_by=key)
    except ValueError as exc:
        return error(400, str(exc))
    except ValidationError as exc:
        return _invalid(exc)
    except flows.IdempotencyConflict as exc:
        return error(409, str(exc))
    response = JsonResponse(completion.as_json(), status=202)
    response["Location"] = reverse("goals:api_completion", args=[completion.pk])
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


@require_GET
@api_key_required
def completion(request: HttpRequest, key: ApiKey, completion_id: int) -> HttpResponse:
    """A completion's status and Keap's answer."""
    found = GoalCompletion.objects.owned_by(key.owner).filter(pk=completion_id).first()
    if found is None:
        return error(404, f"No goal completion {completion_id} for this API key.")
    return JsonResponse(found.as_json())


def _json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object; ValueError with a clear message otherwise."""
    length = request.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise ValueError(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValueError("The body must be a JSON object.")
    return body


def _invalid(exc: ValidationError) -> JsonResponse:
    """A 400 naming every invalid field, in one sentence and by field."""
    fields = {
        ("body" if name == "__all__" else name): msgs for name, msgs in exc.message_dict.items()
    }
    problems = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
    return error(400, f"The goal is not valid: {problems}", fields=fields)
