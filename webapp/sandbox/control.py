"""Simulator-only controls under `/sandbox/` (Keap has none of these).

No authentication: the sandbox is a local test double and `serve` binds to 127.0.0.1 by default,
so only processes on this machine can reach these endpoints. Do not expose it on a network.
"""

import json
import random
import re
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.sandbox import clock, contact_fields, hooks, quota, seed, stats, switches
from webapp.sandbox.credentials import digest, new_secret
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import (
    AccessToken,
    ApiKey,
    CodeExchange,
    Contact,
    DeveloperApp,
    Fault,
    GoalAchievement,
    Grant,
    KeapUser,
    Membership,
    Tenant,
    TrafficCount,
)

MAX_SEED = 1_000_000


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("send a JSON object") from None
    if not isinstance(body, dict):
        raise ValueError("send a JSON object")
    return body


def _tenant(app_name: str) -> Tenant | None:
    return Tenant.objects.filter(app_name=app_name).first()


def traffic() -> dict[str, Any]:
    """Calls per tenant and endpoint, 429s sent, and goal achievements recorded."""
    per_tenant: dict[str, dict[str, dict[str, int]]] = {}
    for row in TrafficCount.objects.order_by("tenant", "endpoint"):
        per_tenant.setdefault(row.tenant, {})[row.endpoint] = {
            "calls": row.calls,
            "throttled": row.throttled,
        }
    totals = TrafficCount.objects.aggregate(calls=Sum("calls"), throttled=Sum("throttled"))
    return {
        "tenants": per_tenant,
        "calls": totals["calls"] or 0,
        "throttled": totals["throttled"] or 0,
        "goals_achieved": GoalAchievement.objects.count(),
    }


@require_GET
def stats_view(request: HttpRequest) -> JsonResponse:
    """Requests seen by endpoint name, traffic per tenant, live grants and tokens, the clock."""
    now = clock.now()
    return JsonResponse(
        {
            "requests": stats.counts(),
            "traffic": traffic(),
            "grants": {
                "active": Grant.objects.filter(refresh_token_digest__isnull=False).count(),
                "revoked": Grant.objects.filter(revoked_at__isnull=False).count(),
            },
            "access_tokens": AccessToken.objects.filter(expires_at__gt=now).count(),
            "now": now.isoformat(),
        }
    )


@csrf_exempt
@require_POST
def stats_reset(request: HttpRequest) -> JsonResponse:
    """Forget every request and traffic counter (goal achievements stay)."""
    stats.reset()
    TrafficCount.objects.all().delete()
    return JsonResponse({"requests": {}})


def _app_json(developer_app: DeveloperApp) -> dict[str, Any]:
    return {"client_id": developer_app.client_id, "redirect_uris": developer_app.redirect_uris}


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def developer_app_view(request: HttpRequest) -> JsonResponse:
    """Show the registered developer app, or PUT {"redirect_uris": [...]} to re-register them."""
    developer_app = DeveloperApp.objects.order_by("pk").first()
    if developer_app is None:
        return _error(404, "No developer app is registered; run `python -m webapp.sandbox seed`")
    if request.method == "PUT":
        try:
            uris = json.loads(request.body)["redirect_uris"]
        except (ValueError, KeyError, TypeError):
            return _error(400, 'Send JSON {"redirect_uris": ["https://..."]}')
        if not isinstance(uris, list) or not all(
            isinstance(uri, str) and uri.startswith(("http://", "https://")) for uri in uris
        ):
            return _error(400, "redirect_uris must be a list of http(s) URLs")
        developer_app.redirect_uris = uris
        developer_app.save(update_fields=["redirect_uris"])
    return JsonResponse(_app_json(developer_app))


@csrf_exempt
@require_http_methods(["GET", "PUT", "DELETE"])
def settings_view(request: HttpRequest) -> JsonResponse:
    """GET the switches and limits; PUT {"name": value} overrides some; DELETE resets all."""
    if request.method == "GET":
        return JsonResponse({"settings": switches.current(), "defaults": switches.defaults()})
    if request.method == "DELETE":
        return JsonResponse({"settings": switches.reset()})
    try:
        return JsonResponse({"settings": switches.update(_body(request))})
    except ValueError as exc:
        return _error(400, str(exc))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def clock_view(request: HttpRequest) -> JsonResponse:
    """GET the sandbox time; POST {"advance": seconds} moves it forward for every worker."""
    if request.method == "POST":
        try:
            seconds = _body(request).get("advance")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ValueError('send {"advance": seconds}')
            clock.advance(float(seconds))
        except ValueError as exc:
            return _error(400, str(exc))
    return JsonResponse(
        {
            "now": clock.now().isoformat(),
            "epoch_ms": int(clock.epoch() * 1000),
            "offset": clock.offset(),
        }
    )


FAULT_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "latency": {"ms": int},
    "error": {"status": int},
    "timeout": {"seconds": (int, float), "then": str, "processed": bool},
    "malformed": {"mode": str},
}


def _fault_json(fault: Fault) -> dict[str, Any]:
    return {
        "id": fault.pk,
        "kind": fault.kind,
        "tenant": fault.tenant or None,
        "path_prefix": fault.path_prefix,
        "probability": fault.probability,
        "remaining": fault.remaining,
        "seen": fault.seen,
        **fault.params,
    }


def _new_fault(body: dict[str, Any]) -> Fault:
    kind = body.pop("kind", None)
    if kind not in FAULT_PARAMS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_PARAMS)}")
    tenant = body.pop("tenant", None) or ""
    if tenant and not _tenant(tenant):
        raise ValueError(f"no tenant {tenant}")
    path_prefix = body.pop("path_prefix", "") or ""
    probability, count = body.pop("probability", None), body.pop("count", None)
    if (probability is None) == (count is None):
        raise ValueError("send exactly one of probability (0..1) or count (next N requests)")
    if probability is not None and not (
        isinstance(probability, int | float) and 0 <= probability <= 1
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
    if kind == "error" and not 500 <= body.get("status", 500) <= 599:
        raise ValueError("status must be a 5xx")
    if kind == "timeout" and body.get("then", "504") not in ("504", "close"):
        raise ValueError('then must be "504" or "close"')
    if kind == "malformed" and body.get("mode", "truncated") not in ("truncated", "html"):
        raise ValueError('mode must be "truncated" or "html"')
    return Fault(
        kind=kind,
        tenant=tenant,
        path_prefix=path_prefix,
        params=body,
        probability=probability,
        remaining=count,
    )


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def faults_view(request: HttpRequest) -> JsonResponse:
    """GET injected faults; POST one (see webapp/sandbox/README.md); DELETE clears them all."""
    if request.method == "DELETE":
        Fault.objects.all().delete()
    elif request.method == "POST":
        try:
            fault = _new_fault(_body(request))
        except ValueError as exc:
            return _error(400, str(exc))
        with write_lock():
            fault.save()
        return JsonResponse(_fault_json(fault), status=201)
    return JsonResponse({"faults": [_fault_json(fault) for fault in Fault.objects.order_by("pk")]})


@csrf_exempt
@require_POST
def quota_reset(request: HttpRequest) -> JsonResponse:
    """Forget every quota window and day count."""
    quota.reset()
    return JsonResponse({"reset": True})


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def achievements(request: HttpRequest) -> JsonResponse:
    """GET every goal achievement recorded (optionally ?tenant=ab123); DELETE forgets them."""
    rows = GoalAchievement.objects.select_related("tenant").order_by("pk")
    if request.method == "DELETE":
        rows.delete()
        return JsonResponse({"achievements": []})
    if request.GET.get("tenant"):
        rows = rows.filter(tenant__app_name=request.GET["tenant"])
    return JsonResponse(
        {
            "achievements": [
                {
                    "tenant": row.tenant.app_name,
                    "contact_id": row.contact_id,
                    "integration": row.integration,
                    "call_name": row.call_name,
                    "goal_ids": row.goal_ids,
                    "api": row.api,
                    "time": row.created_at.isoformat(),
                }
                for row in rows
            ]
        }
    )


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def code_exchanges(request: HttpRequest) -> JsonResponse:
    """GET every authorization-code exchange received, oldest first; DELETE forgets them."""
    rows = CodeExchange.objects.select_related("code").order_by("pk")
    if request.method == "DELETE":
        rows.delete()
        return JsonResponse({"exchanges": []})
    return JsonResponse({"exchanges": [_exchange_json(row) for row in rows]})


def _exchange_json(row: CodeExchange) -> dict[str, Any]:
    # `authorize` is what the authorization request that issued the code carried (null for a code
    # the sandbox never issued); the rest is what the token request sent.
    code = row.code
    return {
        "authorize": None
        if code is None
        else {
            "redirect_uri": code.redirect_uri,
            "state": code.state,
            "code_challenge": code.code_challenge,
            "code_challenge_method": code.code_challenge_method,
        },
        "redirect_uri": row.redirect_uri,
        "code_verifier_s256": row.code_verifier_s256,
        "error": row.error,
        "time": row.created_at.isoformat(),
    }


APP_NAME = re.compile(r"^[a-z0-9]{2,40}$")


def _new_tenant_values(body: dict[str, Any]) -> tuple[str, str, list[KeapUser], int | None]:
    app_name = body.get("app_name")
    if not isinstance(app_name, str) or not APP_NAME.match(app_name):
        raise ValueError("app_name must be 2 to 40 lower-case letters and digits, like ab123")
    name = body.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        raise ValueError("name must be a string of at most 200 characters")
    emails = body.get("users", [])
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        raise ValueError("users must be a list of Keap user emails")
    users = list(KeapUser.objects.filter(email__in=emails))
    missing = sorted(set(emails) - {user.email for user in users})
    if missing:
        raise ValueError(f"no Keap user {', '.join(missing)}")
    count = body.get("contacts")
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_SEED
    ):
        raise ValueError(f"contacts must be an integer from 0 to {MAX_SEED}")
    return app_name, name, users, count


@csrf_exempt
@require_POST
def create_tenant(request: HttpRequest) -> JsonResponse:
    """POST {"app_name", "name", "users": [emails], "contacts": N}: add (or update) a tenant.

    The named Keap users get a seat in it (so they can authorize the developer app for it), it gets
    the seeded tags, companies, campaigns and goals, and, when `contacts` is given, N
    deterministic contacts.
    """
    try:
        app_name, name, users, count = _new_tenant_values(_body(request))
    except ValueError as exc:
        return _error(400, str(exc))
    with write_lock(), transaction.atomic():
        # An existing tenant keeps its name unless a new one is given.
        tenant, created = Tenant.objects.update_or_create(
            app_name=app_name,
            defaults={"name": name} if name else {},
            create_defaults={"name": name or f"Tenant {app_name}"},
        )
        for user in users:
            Membership.objects.get_or_create(keap_user=user, tenant=tenant)
        seed.ensure_tenant_records(tenant)
    if count is not None:
        seed.seed_contacts(tenant, count)
    return JsonResponse(
        {
            "app_name": tenant.app_name,
            "name": tenant.name,
            "users": sorted(tenant.users.values_list("email", flat=True)),
            "contacts": Contact.objects.filter(tenant=tenant).count(),
        },
        status=201 if created else 200,
    )


@csrf_exempt
@require_POST
def revoke_tenant(request: HttpRequest, app_name: str) -> JsonResponse:
    """Revoke every grant for a tenant, as a Keap user removing the app's access would."""
    tenant = _tenant(app_name)
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    revoked = Grant.objects.filter(tenant=tenant).revoke(now=clock.now())
    return JsonResponse({"tenant": tenant.app_name, "revoked_grants": revoked})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest, app_name: str) -> JsonResponse:
    """POST {"kind": "pat"|"sak"} creates a key (shown once); GET lists the tenant's keys."""
    tenant = _tenant(app_name)
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    if request.method == "GET":
        keys = ApiKey.objects.filter(tenant=tenant).order_by("pk")
        return JsonResponse(
            {"api_keys": [{"id": k.pk, "kind": k.kind, "hint": k.hint} for k in keys]}
        )
    try:
        kind = _body(request).get("kind")
    except ValueError as exc:
        return _error(400, str(exc))
    if kind not in (ApiKey.PAT, ApiKey.SAK):
        return _error(400, 'kind must be "pat" or "sak"')
    member = Membership.objects.filter(tenant=tenant).order_by("-is_admin", "pk").first()
    if member is None:
        return _error(409, f"Tenant {app_name} has no users to own a key")
    # SAKs carry Keap's KeapAK- prefix (docs/keap/API.md §1.10); a PAT's shape is not documented.
    value = f"KeapAK-{new_secret(40)}" if kind == ApiKey.SAK else new_secret(44)
    key = ApiKey.objects.create(
        tenant=tenant,
        keap_user_id=member.keap_user_id,
        kind=kind,
        key_digest=digest(value),
        hint=value[:10],
        created_at=clock.now(),
    )
    return JsonResponse({"id": key.pk, "kind": kind, "key": value}, status=201)


@csrf_exempt
@require_POST
def seed_contacts(request: HttpRequest, app_name: str) -> JsonResponse:
    """POST {"count": N}: replace the tenant's contacts with N deterministic seeded ones."""
    tenant = _tenant(app_name)
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    try:
        count = _body(request).get("count")
    except ValueError as exc:
        return _error(400, str(exc))
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_SEED:
        return _error(400, f"count must be an integer from 0 to {MAX_SEED}")
    seed.seed_contacts(tenant, count)
    return JsonResponse({"tenant": app_name, "contacts": count})


@csrf_exempt
@require_POST
def touch_contacts(request: HttpRequest, app_name: str) -> JsonResponse:
    """POST {"count": N} or {"ids": [...]}: move those contacts' last-updated to now (a
    contact.edit for REST hooks).

    With a count, the contacts are picked deterministically (`seed`, default 0) from all of the
    tenant's contacts. Returns the ids touched and the time stamped on them.
    """
    tenant = _tenant(app_name)
    if tenant is None:
        return _error(404, f"No tenant {app_name}")
    try:
        body = _body(request)
    except ValueError as exc:
        return _error(400, str(exc))
    ids, count = body.get("ids"), body.get("count")
    all_ids = list(Contact.objects.filter(tenant=tenant).values_list("keap_id", flat=True))
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return _error(400, "ids must be a list of contact ids")
        picked = sorted(set(ids) & set(all_ids))
    elif isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= len(all_ids):
        rng = random.Random(body.get("seed", 0))  # noqa: S311 (test data)
        picked = sorted(rng.sample(all_ids, count))
    else:
        return _error(400, f"send ids, or a count from 0 to {len(all_ids)}")
    with write_lock(), transaction.atomic():
        stamp = contact_fields.now_ms()
        for start in range(0, len(picked), 500):
            Contact.objects.filter(tenant=tenant, keap_id__in=picked[start : start + 500]).update(
                updated_ms=stamp
            )
        hooks.queue_changes(tenant.pk, hooks.CONTACT_EDIT, picked, stamp)
    return JsonResponse(
        {"ids": picked, "updated_ms": stamp, "update_time": contact_fields.v2_time(stamp)}
    )


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """A human overview of the sandbox: clock, limits, tenants, users, grants, faults, traffic."""
    context = {
        "developer_app": DeveloperApp.objects.order_by("pk").first(),
        "tenants": Tenant.objects.prefetch_related("users").annotate(
            contact_count=Count("contacts", distinct=True)
        ),
        "users": KeapUser.objects.prefetch_related("tenants"),
        "grants": Grant.objects.select_related("tenant", "keap_user").order_by("-updated_at"),
        "api_keys": ApiKey.objects.select_related("tenant").order_by("pk"),
        "faults": Fault.objects.order_by("pk"),
        "settings": switches.current(),
        "counts": stats.counts(),
        "traffic": traffic(),
        "achievements": GoalAchievement.objects.select_related("tenant").order_by("-pk")[:20],
        "now": clock.now(),
    }
    return render(request, "sandbox/dashboard.html", context)
