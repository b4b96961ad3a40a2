"""Keap REST v1 hooks (`/crm/rest/v1/hooks...`): subscriptions and their verification.

Shapes follow the v1 OpenAPI document: `RestHookRequest {eventKey, hookUrl}` in, `RestHook
{key, eventKey, hookUrl, status}` out; create answers 200 (not 201) and delete 204, as it says.
The gateway has authenticated and metered every call, like any other REST call. A key that is
unknown, or belongs to another tenant or developer app, is a 404; errors are `{"message"}`.
"""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox import hooks
from webapp.sandbox.api_errors import allow_methods, json_body, v1_error
from webapp.sandbox.gateway import KeapRequest


def _not_found(key: str) -> JsonResponse:
    return v1_error(404, f"Hook subscription with key {key} not found")


def _api_base(request: KeapRequest) -> str:
    # Where this caller reaches the sandbox; deliveries' apiUrl values point there.
    return request.build_absolute_uri("/").rstrip("/")


@csrf_exempt
@allow_methods("GET", "POST", error=v1_error)
def hook_collection(request: KeapRequest) -> JsonResponse:
    """GET /v1/hooks lists the caller's subscriptions; POST creates one and confirms it."""
    if request.method == "GET":
        subscriptions = hooks.for_caller(request.keap)
        return JsonResponse([hooks.to_json(s) for s in subscriptions], safe=False)
    event_key, hook_url = hooks.check_request(json_body(request))
    subscription = hooks.create(
        caller=request.keap, event_key=event_key, hook_url=hook_url, api_base=_api_base(request)
    )
    return JsonResponse(hooks.to_json(subscription))


@csrf_exempt
@allow_methods("GET", error=v1_error)
def event_keys(request: KeapRequest) -> JsonResponse:
    """GET /v1/hooks/event_keys: the event keys a subscription may name."""
    return JsonResponse(hooks.EVENT_KEYS, safe=False)


@csrf_exempt
@allow_methods("GET", "PUT", "DELETE", error=v1_error)
def hook_item(request: KeapRequest, key: str) -> HttpResponse:
    """/v1/hooks/{key}: GET one, PUT a new eventKey and hookUrl (both required), DELETE (204)."""
    subscription = hooks.get_for_caller(request.keap, key)
    if subscription is None:
        return _not_found(key)
    if request.method == "DELETE":
        hooks.delete(subscription)
        return HttpResponse(status=204)
    if request.method == "PUT":
        # PUT replaces: the document's body is the whole RestHookRequest, so both fields.
        event_key, hook_url = hooks.check_request(json_body(request))
        subscription = hooks.update(subscription, event_key=event_key, hook_url=hook_url)
    return JsonResponse(hooks.to_json(subscription))


@csrf_exempt
@allow_methods("POST", error=v1_error)
def verify(request: KeapRequest, key: str) -> JsonResponse:
    """POST /v1/hooks/{key}/verify: a new immediate-confirmation round (verify or reactivate)."""
    subscription = hooks.get_for_caller(request.keap, key)
    if subscription is None:
        return _not_found(key)
    return JsonResponse(hooks.to_json(hooks.confirm(subscription)))


@csrf_exempt
@allow_methods("POST", error=v1_error)
def delayed_verify(request: KeapRequest, key: str) -> JsonResponse:
    """POST /v1/hooks/{key}/delayedVerify: verify with the X-Hook-Secret sent to hookUrl."""
    subscription = hooks.get_for_caller(request.keap, key)
    if subscription is None:
        return _not_found(key)
    secret = request.headers.get("X-Hook-Secret", "").strip()
    if not secret:
        return v1_error(400, "The X-Hook-Secret header is required")
    return JsonResponse(hooks.to_json(hooks.delayed_verify(subscription, secret)))
