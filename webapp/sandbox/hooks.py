"""REST hooks (docs/keap/API.md §2.5): subscriptions, their confirmation, and queueing changes for delivery.

A subscription starts `Unverified`. Creating it (or asking `/verify`) runs RESTHooks'
immediate confirmation: a POST to `hookUrl` carrying a fresh `X-Hook-Secret`, which a 200 that
echoes the same header and value turns `Verified`; `/delayedVerify` with that secret does the
same later. Only `Verified` subscriptions collect events. `deliverer.py` sends them.

`post()` is the one place the sandbox opens a connection to a receiver.
"""

import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.db import connection, transaction

from webapp.sandbox import clock, switches
from webapp.sandbox.api_errors import BadInput
from webapp.sandbox.credentials import digest, new_secret
from webapp.sandbox.gateway import KeapCaller
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import HookEvent, HookSubscription

# What `GET /v1/hooks/event_keys` answers. Keap publishes no fixed list (it is served at run
# time); this is the set integrators' code shows (docs/keap/API.md §2.5). The sandbox only fires the
# contact ones: a subscription to any other key is accepted and stays quiet.
EVENT_KEYS = [
    "appointment.add", "appointment.delete", "appointment.edit",
    "company.add", "company.delete", "company.edit",
    "contact.add", "contact.delete", "contact.edit", "contact.redact",
    "contactGroup.add", "contactGroup.applied", "contactGroup.delete", "contactGroup.edit",
    "contactGroup.removed",
    "invoice.add", "invoice.delete", "invoice.edit",
    "invoice.payment.add", "invoice.payment.delete", "invoice.payment.edit",
    "leadsource.add", "leadsource.delete", "leadsource.edit",
    "note.add", "note.delete", "note.edit",
    "opportunity.add", "opportunity.delete", "opportunity.edit", "opportunity.stage_move",
    "order.add", "order.delete", "order.edit",
    "product.add", "product.delete", "product.edit",
    "subscription.add", "subscription.delete", "subscription.edit",
    "task.add", "task.complete", "task.delete", "task.edit", "task.incomplete",
    "user.activate", "user.add", "user.edit",
]  # fmt: skip
CONTACT_ADD = "contact.add"
CONTACT_EDIT = "contact.edit"
CONTACT_DELETE = "contact.delete"
USER_AGENT = "Keap-Sandbox-RestHooks/1.0"


# --- outbound HTTP -------------------------------------------------------------------------


@dataclass
class Answer:
    """What a receiver did with one POST: its status and headers, or why there was none."""

    status: int | None
    headers: dict[str, str]
    error: str = ""  # "timeout" or "unreachable" when there was no answer
    elapsed_ms: int = 0


def post(url: str, *, body: bytes = b"", headers: dict[str, str], timeout: float) -> Answer:
    """POST to a receiver; never raises. Redirects are answers, not followed."""
    started = time.monotonic()
    try:
        response = requests.post(
            url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        return Answer(None, {}, "timeout", _ms_since(started))
    except requests.RequestException:
        return Answer(None, {}, "unreachable", _ms_since(started))
    response.close()
    return Answer(response.status_code, dict(response.headers), "", _ms_since(started))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- subscriptions -------------------------------------------------------------------------


def check_request(body: Any) -> tuple[str, str]:
    """A RestHookRequest body's (eventKey, hookUrl), or BadInput naming what is wrong."""
    if not isinstance(body, dict):
        raise BadInput("Request body must be a JSON object")
    for name in body:
        if name not in ("eventKey", "hookUrl"):
            raise BadInput(f"Unrecognized field '{name}'")
    event_key, hook_url = body.get("eventKey"), body.get("hookUrl")
    if not isinstance(event_key, str) or not event_key:
        raise BadInput("eventKey is required")
    if event_key not in EVENT_KEYS:
        raise BadInput(f"Invalid eventKey: {event_key}; see GET /v1/hooks/event_keys")
    if not isinstance(hook_url, str) or not hook_url:
        raise BadInput("hookUrl is required")
    parts = urlsplit(hook_url)
    # Real Keap wants a public HTTPS URL; the sandbox also takes http for receivers on loopback.
    if parts.scheme not in ("http", "https") or not parts.hostname or len(hook_url) > 2000:
        raise BadInput(f"Invalid hookUrl: {hook_url}; use an http(s) URL")
    return event_key, hook_url


def for_caller(caller: KeapCaller) -> list[HookSubscription]:
    """The subscriptions the calling developer app (or key) made in its tenant."""
    return list(
        HookSubscription.objects.filter(tenant=caller.tenant, principal=caller.principal).order_by(
            "pk"
        )
    )


def get_for_caller(caller: KeapCaller, key: str) -> HookSubscription | None:
    """The caller's subscription with this key; None for unknown keys and other callers' keys."""
    if not key.isdigit() or len(key) > 18:
        return None
    return HookSubscription.objects.filter(
        pk=int(key), tenant=caller.tenant, principal=caller.principal
    ).first()


def create(*, caller: KeapCaller, event_key: str, hook_url: str, api_base: str) -> HookSubscription:
    """Store an Unverified subscription, then run the immediate confirmation on it."""
    now = clock.now()
    with write_lock(), transaction.atomic():
        subscription = HookSubscription.objects.create(
            tenant=caller.tenant,
            principal=caller.principal,
            developer_app_id=caller.developer_app_id,
            event_key=event_key,
            hook_url=hook_url,
            api_base=api_base,
            created_at=now,
            updated_at=now,
        )
    return confirm(subscription)


def update(subscription: HookSubscription, *, event_key: str, hook_url: str) -> HookSubscription:
    """Change the event key and URL. A new URL is unproven: it is Unverified until a fresh
    confirmation round (run here at once) succeeds, so events never go to an unconfirmed URL."""
    new_url = hook_url != subscription.hook_url
    with write_lock(), transaction.atomic():
        fields = {"event_key": event_key, "hook_url": hook_url, "updated_at": clock.now()}
        if new_url:
            fields.update(status=HookSubscription.UNVERIFIED, secret_digest="")
        HookSubscription.objects.filter(pk=subscription.pk).update(**fields)
        if event_key != subscription.event_key or new_url:
            # Changes queued under the old key (or for the old URL) are not this subscription's.
            HookEvent.objects.filter(subscription=subscription).delete()
    subscription.refresh_from_db()
    return confirm(subscription) if new_url else subscription


def delete(subscription: HookSubscription) -> None:
    """Forget the subscription with its queued changes and undelivered batches."""
    with write_lock(), transaction.atomic():
        subscription.delete()


def confirm(subscription: HookSubscription) -> HookSubscription:
    """One immediate-confirmation round: POST a fresh X-Hook-Secret to the hook URL.

    A 200 echoing the same header and value verifies the subscription. Anything else changes
    nothing (an Inactive one stays Inactive, a Verified one stays Verified), as Keap says a
    failed verification can always be retried. The secret is stored before the POST, so a
    receiver may also answer by calling /delayedVerify while the POST is still open.
    """
    secret = new_secret(40)
    with write_lock(), transaction.atomic():
        HookSubscription.objects.filter(pk=subscription.pk).update(secret_digest=digest(secret))
    timeout = switches.current()["hook_timeout_seconds"]
    answer = post(subscription.hook_url, headers={"X-Hook-Secret": secret}, timeout=timeout)
    echoed = _header(answer.headers, "X-Hook-Secret") == secret
    confirmed = answer.status == 200 and echoed
    now = clock.now()
    record = {
        "at": now.isoformat(),
        "status": answer.status,
        "error": answer.error,
        "echoed": echoed,
        "verified": confirmed,
    }
    with write_lock(), transaction.atomic():
        rows = HookSubscription.objects.filter(pk=subscription.pk)
        rows.update(confirmation=record)
        if confirmed:
            rows.update(
                status=HookSubscription.VERIFIED,
                verified_at=now,
                inactive_at=None,
                inactive_reason="",
            )
    subscription.refresh_from_db()
    return subscription


def delayed_verify(subscription: HookSubscription, secret: str) -> HookSubscription:
    """Verify with the secret of the latest confirmation round, sent back out of band."""
    if not subscription.secret_digest or digest(secret) != subscription.secret_digest:
        raise BadInput("X-Hook-Secret does not match the latest secret sent to hookUrl")
    with write_lock(), transaction.atomic():
        HookSubscription.objects.filter(pk=subscription.pk).update(
            status=HookSubscription.VERIFIED,
            verified_at=clock.now(),
            inactive_at=None,
            inactive_reason="",
        )
    subscription.refresh_from_db()
    return subscription


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def to_json(subscription: HookSubscription) -> dict[str, Any]:
    """The v1 document's RestHook."""
    return {
        "key": subscription.key,
        "eventKey": subscription.event_key,
        "hookUrl": subscription.hook_url,
        "status": subscription.status,
    }


# --- events --------------------------------------------------------------------------------


def queue_changes(tenant_id: int, event_key: str, ids: list[int], stamp_ms: int) -> int:
    """Queue one change per id for every Verified subscription of the tenant to `event_key`.

    Call it inside the transaction that makes the change, holding the write lock: the change
    and its events commit together or not at all. A subscription's events from one call share
    one random delay, so a burst goes out together (split at the batch size) rather than
    trickling over the 30-60 s window. Returns the number of events queued.
    """
    if not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM sandbox_hooksubscription "
            "WHERE tenant_id = %s AND event_key = %s AND status = %s",
            [tenant_id, event_key, HookSubscription.VERIFIED],
        )
        subscriptions = [row[0] for row in cursor.fetchall()]
        if not subscriptions:
            return 0
        settings = switches.current()
        low = settings["hook_first_delay_min_seconds"]
        high = settings["hook_first_delay_max_seconds"]
        queued = 0
        for subscription_id in subscriptions:
            due = stamp_ms / 1000 + random.uniform(min(low, high), max(low, high))  # noqa: S311
            rows = [(subscription_id, object_id, stamp_ms, due) for object_id in ids]
            cursor.executemany(
                "INSERT INTO sandbox_hookevent (subscription_id, object_id, changed_ms, due_ts) "
                "VALUES (%s, %s, %s, %s)",
                rows,
            )
            queued += len(rows)
    return queued


def wants(tenant_id: int, *event_keys: str) -> bool:
    """Whether any Verified subscription of the tenant listens to one of these keys."""
    return HookSubscription.objects.filter(
        tenant_id=tenant_id, event_key__in=event_keys, status=HookSubscription.VERIFIED
    ).exists()
