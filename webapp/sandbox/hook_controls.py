"""Simulator-only controls for REST hooks and web-app edits, under `/sandbox/api/` (see control.py).

Read a tenant's subscriptions and every delivery attempt, inject delivery faults, play edits made
in Keap's own web app (once, or at a steady rate), and delete contacts as a person would.
"""

import random
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.sandbox import clock, contacts, play
from webapp.sandbox.control import _body, _error, _tenant
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import (
    Contact,
    ContactPlayer,
    HookDelivery,
    HookEvent,
    HookFault,
    HookSubscription,
    Tenant,
)

MAX_PLAY = 100_000
FINISHED = [HookDelivery.DELIVERED, HookDelivery.FAILED, HookDelivery.DROPPED,
            HookDelivery.DISCARDED]  # fmt: skip


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _subscriptions_json(found: QuerySet[HookSubscription]) -> list[dict[str, Any]]:
    rows = list(found.select_related("tenant", "developer_app").order_by("pk"))
    ids = [row.pk for row in rows]
    queued: dict[int, int] = {}
    for pk in HookEvent.objects.filter(subscription_id__in=ids).values_list(
        "subscription_id", flat=True
    ):
        queued[pk] = queued.get(pk, 0) + 1
    waiting: dict[int, int] = {}
    for pk in HookDelivery.objects.filter(
        subscription_id__in=ids, state__in=[HookDelivery.PENDING, HookDelivery.SENDING]
    ).values_list("subscription_id", flat=True):
        waiting[pk] = waiting.get(pk, 0) + 1
    return [
        {
            "key": row.key,
            "eventKey": row.event_key,
            "hookUrl": row.hook_url,
            "status": row.status,
            "tenant": row.tenant.app_name,
            "owner": row.principal,
            "client_id": row.developer_app.client_id if row.developer_app else None,
            "created": _iso(row.created_at),
            "verified_at": _iso(row.verified_at),
            "inactive_at": _iso(row.inactive_at),
            "inactive_reason": row.inactive_reason,
            "last_confirmation": row.confirmation or None,
            "queued_events": queued.get(row.pk, 0),
            "pending_deliveries": waiting.get(row.pk, 0),
        }
        for row in rows
    ]


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def all_hooks(request: HttpRequest) -> JsonResponse:
    """GET every subscription (optionally ?tenant=ab123); DELETE removes them all, with their
    queued changes and deliveries."""
    rows = HookSubscription.objects.all()
    if request.method == "DELETE":
        with write_lock(), transaction.atomic():
            deleted = rows.count()
            rows.delete()
        return JsonResponse({"deleted": deleted})
    if request.GET.get("tenant"):
        rows = rows.filter(tenant__app_name=request.GET["tenant"])
    return JsonResponse({"subscriptions": _subscriptions_json(rows)})


@require_GET
def tenant_hooks(request: HttpRequest, app_name: str) -> JsonResponse:
    """GET one tenant's subscriptions with their status, owner and what waits to be sent."""
    tenant = _tenant(app_name)
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    rows = HookSubscription.objects.filter(tenant=tenant)
    return JsonResponse({"tenant": app_name, "subscriptions": _subscriptions_json(rows)})


def _delivery_json(row: HookDelivery, payload: bool) -> dict[str, Any]:
    body = {
        "id": row.pk,
        "tenant": row.tenant,
        "key": str(row.subscription_id),
        "event_key": row.event_key,
        "state": row.state,
        "objects": len(row.object_keys),
        "object_ids": [item["id"] for item in row.object_keys],
        "first_change_ms": row.first_change_ms,
        "formed_ms": _ms(row.formed_ts),
        "next_ms": _ms(row.next_ts) if row.state == HookDelivery.PENDING else None,
        "finished_ms": _ms(row.finished_ts),
        "attempts": row.attempts,
        "log": row.log,
    }
    if payload:
        body["object_keys"] = row.object_keys
    return body


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def deliveries(request: HttpRequest) -> JsonResponse:
    """GET delivery batches, oldest first, filtered by ?tenant, key, event_key, state, after
    (an id) and limit (default 1000); ?payload=1 adds the object keys as sent. DELETE forgets
    finished ones (optionally ?tenant); pending ones are never forgotten."""
    rows = HookDelivery.objects.order_by("pk")
    query = request.GET
    if query.get("tenant"):
        rows = rows.filter(tenant=query["tenant"])
    if request.method == "DELETE":
        deleted, _ = rows.filter(state__in=FINISHED).delete()
        return JsonResponse({"deleted": deleted})
    try:
        if query.get("key"):
            rows = rows.filter(subscription_id=int(query["key"]))
        if query.get("after"):
            rows = rows.filter(pk__gt=int(query["after"]))
        limit = int(query.get("limit") or 1000)
    except ValueError:
        return _error(400, "key, after and limit must be integers")
    if query.get("event_key"):
        rows = rows.filter(event_key=query["event_key"])
    if query.get("state"):
        rows = rows.filter(state=query["state"])
    payload = query.get("payload") in ("1", "true")
    found = [_delivery_json(row, payload) for row in rows[: max(1, min(limit, 10_000))]]
    return JsonResponse({"deliveries": found, "now_ms": int(clock.epoch() * 1000)})


FAULT_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "drop": {},
    "delay": {"seconds": (int, float)},
    "duplicate": {},
    "reorder": {},
    "error": {"status": int, "sent": bool},
    "timeout": {"sent": bool},
}


def _fault_json(fault: HookFault) -> dict[str, Any]:
    return {
        "id": fault.pk,
        "kind": fault.kind,
        "tenant": fault.tenant or None,
        "probability": fault.probability,
        "remaining": fault.remaining,
        "seen": fault.seen,
        **fault.params,
    }


def _new_fault(body: dict[str, Any]) -> HookFault:
    kind = body.pop("kind", None)
    if kind not in FAULT_PARAMS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_PARAMS)}")
    tenant = body.pop("tenant", None) or ""
    if tenant and not _tenant(tenant):
        raise ValueError(f"no tenant {tenant}")
    probability, count = body.pop("probability", None), body.pop("count", None)
    if (probability is None) == (count is None):
        raise ValueError("send exactly one of probability (0..1) or count (next N deliveries)")
    if probability is not None and not (
        isinstance(probability, int | float)
        and not isinstance(probability, bool)
        and 0 <= probability <= 1
    ):
        raise ValueError("probability must be between 0 and 1")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer")
    for name, value in body.items():
        expected = FAULT_PARAMS[kind].get(name)
        if expected is None or (isinstance(value, bool) and expected is not bool):
            raise ValueError(f"unknown or bad parameter {name!r} for {kind}")
        if not isinstance(value, expected):
            raise ValueError(f"bad value for {name!r}")
    if kind == "error":
        body.setdefault("status", 500)
        if not 400 <= body["status"] <= 599:
            raise ValueError("status must be a 4xx or 5xx")
    if kind == "delay":
        body.setdefault("seconds", 60)
        if not 0 < body["seconds"] < 10**7:
            raise ValueError("seconds must be above 0")
    return HookFault(
        kind=kind, tenant=tenant, params=body, probability=probability, remaining=count
    )


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def hook_faults(request: HttpRequest) -> JsonResponse:
    """GET injected delivery faults; POST one; DELETE clears them all."""
    if request.method == "DELETE":
        HookFault.objects.all().delete()
    elif request.method == "POST":
        try:
            fault = _new_fault(_body(request))
        except ValueError as exc:
            return _error(400, str(exc))
        with write_lock():
            fault.save()
        return JsonResponse(_fault_json(fault), status=201)
    return JsonResponse({"faults": [_fault_json(f) for f in HookFault.objects.order_by("pk")]})


def _count(body: dict[str, Any], name: str, high: int) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValueError(f"{name} must be an integer from 0 to {high}")
    return value


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**7:
        raise ValueError(f"{name} must be a number above 0")
    return float(value)


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def play_contacts(request: HttpRequest, app_name: str) -> JsonResponse:
    """Edits made in Keap's own web app.

    POST {"adds": n, "edits": n, "deletes": n, "seed": s} makes them now and returns the ids by
    kind. POST {"rate": per_second, "duration": seconds, "adds": w, "edits": w, "deletes": w}
    starts a player that keeps making them (mixed by those weights) for `duration`, or until
    DELETE stops the tenant's players. GET lists the tenant's players and what they did.
    """
    tenant = _tenant(app_name)
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    players = ContactPlayer.objects.filter(tenant=tenant).order_by("pk")
    if request.method == "GET":
        return JsonResponse({"players": [play.to_json(p) for p in players]})
    if request.method == "DELETE":
        with write_lock(), transaction.atomic():
            stopped = players.filter(state=ContactPlayer.RUNNING).update(
                state=ContactPlayer.STOPPED
            )
        return JsonResponse({"stopped": stopped, "players": [play.to_json(p) for p in players]})
    try:
        body = _body(request)
        mix = {name: _count(body, name, MAX_PLAY) for name in ("adds", "edits", "deletes")}
        rate, duration = _number(body, "rate"), _number(body, "duration")
        if rate is None and duration is not None:
            raise ValueError("duration needs a rate")
        if rate is not None:
            if not any(mix.values()):
                raise ValueError("give the mix: adds, edits and deletes as weights, not all 0")
            return _start_player(tenant, rate, duration, mix)
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer")
        rng = random.Random(seed)  # noqa: S311 (test data)
        result = play.play_once(
            tenant, adds=mix["adds"], edits=mix["edits"], deletes=mix["deletes"], rng=rng
        )
    except ValueError as exc:
        return _error(400, str(exc))
    return JsonResponse({"tenant": app_name, **result})


def _start_player(
    tenant: Tenant, rate: float, duration: float | None, mix: dict[str, int]
) -> JsonResponse:
    started = clock.epoch()
    player = ContactPlayer.objects.create(
        tenant=tenant,
        rate=rate,
        started_ts=started,
        ends_ts=None if duration is None else started + duration,
        **mix,
    )
    return JsonResponse({"player": play.to_json(player)}, status=202)


@csrf_exempt
@require_POST
def delete_contacts(request: HttpRequest, app_name: str) -> JsonResponse:
    """POST {"ids": [...]} or {"count": N, "seed": 0}: delete those contacts (contact.delete
    for REST hooks); returns the ids that existed and were deleted."""
    tenant = _tenant(app_name)
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    try:
        body = _body(request)
    except ValueError as exc:
        return _error(400, str(exc))
    ids, count = body.get("ids"), body.get("count")
    if ids is not None:
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids
        ):
            return _error(400, "ids must be a list of contact ids")
        picked = sorted(set(ids))
    else:
        all_ids = list(Contact.objects.filter(tenant=tenant).values_list("keap_id", flat=True))
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= len(all_ids):
            return _error(400, f"send ids, or a count from 0 to {len(all_ids)}")
        rng = random.Random(body.get("seed", 0))  # noqa: S311 (test data)
        picked = sorted(rng.sample(all_ids, count))
    deleted = contacts.delete(tenant, picked)
    return JsonResponse({"ids": deleted})
