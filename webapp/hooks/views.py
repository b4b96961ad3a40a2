"""Where Keap delivers a connection's REST hook events: POST /hooks/keap/<connection id>/<secret>.

Two kinds of request come here (docs/keap/API.md §2.5):
- a confirmation: a POST carrying `X-Hook-Secret`, answered 200 with the same header and value,
  which is how Keap verifies the subscription;
- a delivery: `{"event_key", "object_type", "object_keys": [{"id", "apiUrl", "timestamp"}]}`
  with up to 1,000 changed contacts. It is stored as it came, in one INSERT, and answered 200 at
  once. Nothing here calls Keap: Keap counts a receiver that takes 30 s as failed, and turns a
  subscription that fails four times Inactive. The bulk lane applies it later (webapp.sync.changes).

Keap signs nothing, so the URL's secret is the only credential: compared in constant time and
never logged (webapp.redaction). A URL no longer in use (a disconnected connection, a secret
replaced when the subscriptions were made again) answers 410 Gone, which tells Keap to make the
subscription Inactive at once. Duplicates, reordering and batches are normal: the deliveries are
applied by contact, whatever their order, and applying one twice changes nothing.
"""

import time
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webapp.connections.models import KeapConnection
from webapp.hooks import store
from webapp.hooks.models import EVENT_KEYS, HookDelivery, HookEndpoint, secret_matches

# connection id -> (its secret's digest, until when it is believed), per process (see _digest).
_DIGESTS: dict[int, tuple[str, float]] = {}
DIGESTS_KEPT = 50_000
MAX_BODY_BYTES = 1_000_000  # 1,000 object keys are about 150 KB
MAX_OBJECTS = 1000  # Keap batches at most this many changed objects a delivery
MAX_ID = 2**63 - 1
SECRET_HEADER_MAX = 500


class BadDelivery(ValueError):
    """Not a delivery Keap would send; the message says what is wrong."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@csrf_exempt  # Keap posts here: the URL's secret, not a cookie, says who may
@require_POST
def intake(request: HttpRequest, connection_id: int, secret: str) -> HttpResponse:
    """Answer Keap's confirmation, or store one delivery and answer 200 at once."""
    if not _in_use(connection_id, secret):
        return JsonResponse({"error": "This hook URL is not in use."}, status=410)
    confirmation = request.headers.get("X-Hook-Secret")
    if confirmation is not None:
        if not confirmation.isprintable() or len(confirmation) > SECRET_HEADER_MAX:
            return JsonResponse({"error": "X-Hook-Secret is not a plain value."}, status=400)
        response = HttpResponse(status=200)
        response["X-Hook-Secret"] = confirmation
        return response
    try:
        event_key, ids = read_delivery(request)
    except BadDelivery as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)
    if ids:
        delivery = HookDelivery(connection_id=connection_id, event_key=event_key, ids=ids)
        try:
            store.store(delivery)
        except store.NotStored:
            response = JsonResponse({"error": "Not stored; send it again."}, status=503)
            response["Retry-After"] = "30"
            return response
    return HttpResponse(status=200)


def _in_use(connection_id: int, secret: str) -> bool:
    return secret_matches(_digest(connection_id), secret)


def forget_secrets() -> None:
    """Read every hook URL's secret afresh (tests; a process just started has nothing cached)."""
    _DIGESTS.clear()


def _digest(connection_id: int) -> str:
    """The connection's URL secret's digest ("" when its URL is not in use), remembered a few
    seconds per process: a burst of deliveries costs one read. A secret just replaced, or a
    connection just disconnected, answers as before for those few seconds at most."""
    now = time.monotonic()
    cached = _DIGESTS.get(connection_id)
    if cached is not None and cached[1] > now:
        return cached[0]
    row = (
        HookEndpoint.objects.filter(connection_id=connection_id)
        .exclude(status=HookEndpoint.Status.UNSUBSCRIBED)
        .exclude(connection__status=KeapConnection.Status.DISCONNECTED)
        .values_list("secret_digest", flat=True)
        .first()
    )
    if len(_DIGESTS) >= DIGESTS_KEPT:
        _DIGESTS.clear()
    _DIGESTS[connection_id] = (row or "", now + settings.HOOKS_SECRET_CACHE_SECONDS)
    return row or ""


def read_delivery(request: HttpRequest) -> tuple[str, list[list[Any]]]:
    """The delivery's event key and its contacts as [[id, timestamp], ...]; BadDelivery if it is
    not one Keap would send to a contact subscription."""
    length = request.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise BadDelivery(f"The body is larger than {MAX_BODY_BYTES} bytes.", status=413)
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise BadDelivery("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise BadDelivery("The body is not a JSON object.")
    event_key = body.get("event_key")
    if event_key not in EVENT_KEYS:
        raise BadDelivery(f"event_key must be one of {', '.join(EVENT_KEYS)}.")
    if body.get("object_type", "contact") != "contact":
        raise BadDelivery("object_type must be contact.")
    keys = body.get("object_keys")
    if not isinstance(keys, list):
        raise BadDelivery("object_keys must be a list.")
    if len(keys) > MAX_OBJECTS:
        raise BadDelivery(f"At most {MAX_OBJECTS} object_keys a delivery.")
    ids = []
    for key in keys:
        keap_id = key.get("id") if isinstance(key, dict) else None
        if isinstance(keap_id, str) and keap_id.isdigit():
            keap_id = int(keap_id)
        if isinstance(keap_id, bool) or not isinstance(keap_id, int) or not 0 < keap_id <= MAX_ID:
            raise BadDelivery("Every object key needs a positive integer id.")
        stamp = key.get("timestamp")
        ids.append([keap_id, stamp[:40] if isinstance(stamp, str) else ""])
    return event_key, ids
