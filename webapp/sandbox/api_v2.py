"""Keap REST v2 (`/crm/rest/v2/...`): userinfo, business profile, contacts and goals.

Shapes follow the v2 documents (2025-11-05 and the newer 2026-08 swagger): string ids, opaque
`next_page_token`, the `filter` grammar, `update_mask`, and errors as
`{code, message, status, details}`.
"""

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox import contact_fields, contacts, custom_fields, goals
from webapp.sandbox.api_errors import (
    BadInput,
    allow_methods,
    int_param,
    json_body,
    list_param,
    v2_error,
)
from webapp.sandbox.gateway import KeapRequest
from webapp.sandbox.models import Membership

ORDER_COLUMNS = {
    "id": "keap_id",
    "create_time": "created_ms",
    "update_time": "updated_ms",
    "email": "email1",
}
CLAUSE = re.compile(r"^\s*([A-Za-z_]+)\s*(==|!=|>=|<=|>|<)\s*(.*?)\s*$")
PATCH_MASK = [
    "addresses", "anniversary_date", "birth_date", "company", "contact_type", "create_time",
    "custom_fields", "email_addresses", "family_name", "fax_numbers", "given_name", "id",
    "job_title", "leadsource_id", "links", "middle_name", "notes", "origin", "owner_id",
    "phone_numbers", "preferred_locale", "preferred_name", "prefix", "referral_code",
    "score_value", "social_accounts", "source_type", "spouse_name", "suffix", "tag_ids",
    "time_zone", "update_time", "utm_parameters", "website", "account_id", "assistant_name",
    "assistant_phone", "billing_information", "created_by", "groups", "last_updated_by",
]  # fmt: skip


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in ("", None)}


@csrf_exempt
@allow_methods("GET", error=v2_error)
def userinfo(request: KeapRequest) -> JsonResponse:
    """GET /v2/oauth/connect/userinfo: the Keap user who authorized this token."""
    caller = request.keap
    user = caller.keap_user
    is_admin = Membership.objects.filter(keap_user=user, tenant=caller.tenant, is_admin=True)
    return JsonResponse(
        _compact(
            {
                "email": user.email,
                "sub": str(user.global_user_id),
                "id": str(user.global_user_id),
                "keap_id": user.infusionsoft_id,
                "family_name": user.family_name,
                "given_name": user.given_name,
                "middle_name": user.middle_name,
                "preferred_name": user.preferred_name,
                "is_admin": is_admin.exists(),
                "tenant_id": caller.tenant.app_name,
            }
        )
    )


@csrf_exempt
@allow_methods("GET", error=v2_error)
def business_profile(request: KeapRequest) -> JsonResponse:
    """GET /v2/businessProfile: the business profile of the token's tenant."""
    tenant = request.keap.tenant
    address = _compact(
        {
            "line1": tenant.address_line1,
            "line2": tenant.address_line2,
            "locality": tenant.address_locality,
            "region": tenant.address_region,
            "country_code": tenant.address_country_code,
            "postal_code": tenant.address_postal_code,
        }
    )
    profile = _compact(
        {
            "name": tenant.name,
            "email": tenant.email,
            "website": tenant.website,
            "phone": tenant.phone,
            "time_zone": tenant.time_zone,
            "currency_code": tenant.currency_code,
            "language_tag": tenant.language_tag,
            "business_type": tenant.business_type,
        }
    )
    return JsonResponse({**profile, "address": address, "business_goals": []})


@csrf_exempt
@allow_methods("GET", "POST", error=v2_error)
def contact_collection(request: KeapRequest) -> HttpResponse:
    """/v2/contacts: GET lists (page tokens, filter, order_by); POST creates or, with
    `duplicate_option`, updates a match (201 created, 200 updated)."""
    if request.method == "GET":
        return _list_contacts(request)
    option = request.GET.get("duplicate_option")
    if option is not None and option not in ("Email", "EmailAndName", "EmailAndNameAndCompany"):
        raise BadInput(
            "Invalid duplicate_option: use Email, EmailAndName or EmailAndNameAndCompany"
        )
    fields = _fields(request)
    body = contact_fields.check_body(json_body(request), contact_fields.V2_CONTACT)
    tenant = request.keap.tenant
    data: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    contacts.apply_v2(tenant, data, body, columns)
    existing = contacts.find_duplicate(tenant, data, columns, option) if option else None
    if existing is not None:
        data, columns = existing.data, contacts.columns_of(existing)
        contacts.apply_v2(tenant, data, body, columns)
    contacts.require_reachable(data, v2=True)
    contact = contacts.save(tenant, existing, data, columns)
    return JsonResponse(contacts.to_v2(contact, fields), status=200 if existing else 201)


def _fields(request: KeapRequest) -> set[str] | None:
    names = list_param(request.GET, "fields")
    for name in names:
        if name not in contacts.V2_FIELDS:
            raise BadInput(f"Invalid field in fields: {name}")
    return set(names) or None


def _list_contacts(request: KeapRequest) -> JsonResponse:
    query = request.GET
    settings = request.sandbox_settings
    clamp = settings["page_size_overflow"] == "clamp"
    # The newest document allows 0, which (as in Google-style APIs) means "the default".
    page_size = int_param(query, "page_size", 0, low=0, high=1000, clamp=clamp)
    page_size = page_size or settings["v2_default_page_size"]
    fields = _fields(request)
    filter_text = query.get("filter", "")
    order_text = query.get("order_by", "") or "id"
    rows = contacts.for_tenant(request.keap.tenant).filter(_parse_filter(filter_text))
    column, descending = _parse_order(order_text)
    fingerprint = hashlib.sha256(f"{filter_text}\n{order_text}".encode()).hexdigest()[:12]
    token = query.get("page_token")
    if token:
        rows = rows.filter(_after(column, descending, decode_page_token(token, fingerprint)))
    prefix = "-" if descending else ""
    order = [prefix + column] + ([prefix + "keap_id"] if column != "keap_id" else [])
    page = contacts.page(rows.order_by(*order)[: page_size + 1])
    body: dict[str, Any] = {
        "contacts": [contacts.to_v2(contact, fields) for contact in page[:page_size]]
    }
    if len(page) > page_size:
        last = page[page_size - 1]
        body["next_page_token"] = encode_page_token(
            [getattr(last, column), last.keap_id], fingerprint
        )
    return JsonResponse(body)


def _parse_filter(text: str) -> Q:
    condition = Q()
    for clause in filter(None, (part.strip() for part in text.split(";"))):
        match = CLAUSE.match(clause)
        if not match:
            raise BadInput(f"Invalid filter: {clause!r}; use field==value joined by ';'")
        name, operator, value = match.groups()
        if name == "contact_id":
            lookups = {"==": "exact", ">": "gt", "<": "lt", ">=": "gte", "<=": "lte"}
            if operator not in lookups or not contact_fields.is_id(value):
                raise BadInput(f"Invalid filter: {clause!r}")
            condition &= Q(**{f"keap_id__{lookups[operator]}": int(value)})
            continue
        if operator != "==":
            raise BadInput(f"Invalid filter: {name} only supports ==")
        if name in ("ids", "contact_ids"):
            # The 2025-11 document names contact_ids, the 2026-08 one both: the same set.
            condition &= Q(keap_id__in=_id_set(name, value))
        elif name == "email":
            condition &= contacts.email_filter(value)
        elif name in ("given_name", "family_name", "middle_name"):
            condition &= contacts.name_filter(name, value)
        elif name == "company_id":
            if not contact_fields.is_id(value):
                raise BadInput("Invalid filter: company_id must be numeric")
            condition &= Q(company_id=int(value))
        elif name == "start_update_time":
            condition &= Q(updated_ms__gte=contact_fields.parse_time(value, name, strict=True))
        elif name == "end_update_time":
            condition &= Q(updated_ms__lte=contact_fields.parse_time(value, name, strict=True))
        else:
            raise BadInput(f"Invalid filter field: {name}")
    return condition


def _id_set(name: str, value: str) -> list[int]:
    # Keap states no limit for contacts (opportunities: 100 ids); the gateway's 7 KB request
    # line bounds the list long before SQLite's 32,766 parameters would.
    parts = [part.strip() for part in value.split(",")]
    if not all(contact_fields.is_id(part) for part in parts):
        raise BadInput(f"Invalid filter: {name} takes comma-separated numeric ids")
    return sorted({int(part) for part in parts})


def _parse_order(text: str) -> tuple[str, bool]:
    parts = text.replace("+", " ").split()
    if not parts or parts[0] not in ORDER_COLUMNS or len(parts) > 2:
        raise BadInput(f"Invalid order_by: {text!r}; use one of {', '.join(ORDER_COLUMNS)}")
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise BadInput("Invalid order_by direction: use asc or desc")
    return ORDER_COLUMNS[parts[0]], direction == "desc"


def _after(column: str, descending: bool, key: list[Any]) -> Q:
    # Keyset paging: strictly after the last row of the previous page in (column, id) order,
    # so rows are never skipped or repeated however deep the paging goes.
    value, keap_id = key
    op = "lt" if descending else "gt"
    if column == "keap_id":
        return Q(**{f"keap_id__{op}": keap_id})
    return Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"keap_id__{op}": keap_id})


def encode_page_token(key: list[Any], fingerprint: str) -> str:
    raw = json.dumps({"k": key, "q": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, fingerprint: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        key: list[Any] = data["k"]
        valid = data["q"] == fingerprint and isinstance(key, list) and len(key) == 2
    except (binascii.Error, ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise BadInput("Invalid page_token (it must come from a response to the same query)")
    return key


@csrf_exempt
@allow_methods("GET", "PATCH", "DELETE", error=v2_error)
def contact_item(request: KeapRequest, contact_id: str) -> HttpResponse:
    """/v2/contacts/{contact_id}: GET one, PATCH (with `update_mask`), DELETE (204)."""
    if not contact_id.isdigit():
        raise BadInput(f"Invalid contact_id: {contact_id}")
    tenant = request.keap.tenant
    contact = contacts.get(tenant, contact_id)
    if contact is None:
        return v2_error(404, f"Contact {contact_id} not found")
    if request.method == "DELETE":
        contacts.delete(tenant, [contact.keap_id])
        return HttpResponse(status=204)
    fields = _fields(request)
    if request.method == "PATCH":
        body = contact_fields.check_body(json_body(request), contact_fields.V2_CONTACT)
        mask = list_param(request.GET, "update_mask")
        for name in mask:
            if name not in PATCH_MASK:
                raise BadInput(f"Invalid update_mask field: {name}")
        if mask:
            # Read-only names in the mask (id, create_time ...) are accepted and change nothing.
            body = {key: body.get(key) for key in mask if key in contact_fields.V2_CONTACT}
        data, columns = contact.data, contacts.columns_of(contact)
        contacts.apply_v2(tenant, data, body, columns)
        contacts.require_reachable(data, v2=True)
        contact = contacts.save(tenant, contact, data, columns)
    return JsonResponse(contacts.to_v2(contact, fields))


@csrf_exempt
@allow_methods("GET", error=v2_error)
def contact_model(request: KeapRequest) -> JsonResponse:
    """GET /v2/contacts/model: the contact custom fields and optional properties."""
    return JsonResponse(custom_fields.model_v2())


@csrf_exempt
@allow_methods("POST", error=v2_error)
def achieve_goal(request: KeapRequest) -> HttpResponse:
    """POST /v2/automations/goals/achieve: 200 `{"results": [...]}`, one per goal fired."""
    body = json_body(request)
    spec = {
        "integration": "str",
        "call_name": "str",
        "automation_id": "int",
        "goal_id": "int",
        "contact_id": "int",
    }
    body = contact_fields.check_body(body, spec)
    if body.get("contact_id") is None:
        raise BadInput("contact_id is required")
    by_name = body.get("integration") is not None or body.get("call_name") is not None
    by_id = body.get("automation_id") is not None or body.get("goal_id") is not None
    if by_name == by_id or (by_name and not (body.get("integration") and body.get("call_name"))):
        raise BadInput("Send either integration and call_name, or automation_id and goal_id")
    if by_id and (body.get("automation_id") is None or body.get("goal_id") is None):
        raise BadInput("automation_id and goal_id must be sent together")
    try:
        fired = goals.achieve(
            tenant=request.keap.tenant,
            contact_id=body["contact_id"],
            integration=body.get("integration") or "",
            call_name=body.get("call_name") or "",
            campaign_id=body.get("automation_id"),
            goal_id=body.get("goal_id"),
            api="v2",
        )
    except goals.UnknownContact as exc:
        return v2_error(request.sandbox_settings["goal_unknown_contact_status"], exc.message)
    results = [
        {
            "success": True,
            "message": "Goal achieved",
            "automation_id": goal.campaign_id,
            "goal_id": goal.pk,
            "flow_start_results": [],
            "flow_stop_results": [],
        }
        for goal in fired
    ]
    return JsonResponse({"results": results})


@csrf_exempt
def not_found(request: KeapRequest) -> JsonResponse:
    """Any other /crm/rest/v2 path with a valid token: v2's 404 body."""
    return v2_error(404, f"No resource found at {request.path}")
