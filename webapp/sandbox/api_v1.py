"""Keap REST v1 (`/crm/rest/v1/...`): userinfo, account profile, contacts and API goals.

Shapes follow the v1 OpenAPI document (UserInfoDTO, AccountProfile, ContactList, FullContact,
GoalEventResultDTO) and the wire samples in docs/keap/API.md §2.2. Optional fields that have no
value are left out (the document allows no nulls; the `v1_nulls` switch sends them as Keap was
seen to).
Errors are `{"message": ...}`.
"""

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox import contact_fields, contacts, custom_fields, goals, v1_paging
from webapp.sandbox.api_errors import (
    BadInput,
    allow_methods,
    json_body,
    list_param,
    v1_error,
)
from webapp.sandbox.gateway import KeapRequest
from webapp.sandbox.models import Membership

ORDER_COLUMNS = {
    "id": ["keap_id"],
    "date_created": ["created_ms", "keap_id"],
    "last_updated": ["updated_ms", "keap_id"],
    "name": ["family_name", "given_name", "keap_id"],
    "firstName": ["given_name", "keap_id"],
    "email": ["email1", "keap_id"],
}
PATCH_MASK = [
    "addresses", "anniversary", "birthday", "company", "contact_type", "custom_fields",
    "email_addresses", "family_name", "fax_numbers", "given_name", "job_title",
    "lead_source_id", "middle_name", "notes", "opt_in_reason", "origin", "owner_id",
    "phone_numbers", "preferred_locale", "preferred_name", "prefix", "social_accounts",
    "source_type", "spouse_name", "suffix", "time_zone", "website",
]  # fmt: skip


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in ("", None)}


@csrf_exempt
@allow_methods("GET", error=v1_error)
def userinfo(request: KeapRequest) -> JsonResponse:
    """GET /v1/oauth/connect/userinfo: the Keap user who authorized this token."""
    caller = request.keap
    user = caller.keap_user
    is_admin = Membership.objects.filter(keap_user=user, tenant=caller.tenant, is_admin=True)
    return JsonResponse(
        _compact(
            {
                "email": user.email,
                "family_name": user.family_name,
                "given_name": user.given_name,
                "global_user_id": user.global_user_id,
                "infusionsoft_id": user.infusionsoft_id,
                "is_admin": is_admin.exists(),
                "middle_name": user.middle_name,
                "preferred_name": user.preferred_name,
                "sub": str(user.global_user_id),
            }
        )
    )


@csrf_exempt
@allow_methods("GET", error=v1_error)
def account_profile(request: KeapRequest) -> JsonResponse:
    """GET /v1/account/profile: the business profile of the token's tenant."""
    tenant = request.keap.tenant
    us = tenant.address_country_code == "USA"
    address = _compact(
        {
            "field": "BILLING",
            "line1": tenant.address_line1,
            "line2": tenant.address_line2,
            "locality": tenant.address_locality,
            "region": tenant.address_region,
            # The spec: zip_code is for US addresses "instead of postal_code, not in addition".
            "zip_code": tenant.address_postal_code if us else "",
            "postal_code": "" if us else tenant.address_postal_code,
            "country_code": tenant.address_country_code,
        }
    )
    profile = _compact(
        {
            "name": tenant.name,
            "email": tenant.email,
            "phone": tenant.phone,
            "phone_ext": tenant.phone_ext,
            "website": tenant.website,
            "time_zone": tenant.time_zone,
            "currency_code": tenant.currency_code,
            "language_tag": tenant.language_tag,
            "business_type": tenant.business_type,
        }
    )
    return JsonResponse({**profile, "address": address, "business_goals": []})


@csrf_exempt
@allow_methods("GET", "POST", "PUT", error=v1_error)
def contact_collection(request: KeapRequest) -> HttpResponse:
    """/v1/contacts: GET lists (offset paging), POST creates (201), PUT creates or updates."""
    if request.method == "GET":
        return _list_contacts(request)
    upsert = request.method == "PUT"
    body = contact_fields.check_body(
        json_body(request), contact_fields.V1_UPSERT if upsert else contact_fields.V1_CONTACT
    )
    tenant = request.keap.tenant
    option = body.pop("duplicate_option", None) or "Email"
    data: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    contacts.apply_v1(tenant, data, body, columns)
    existing = contacts.find_duplicate(tenant, data, columns, option) if upsert else None
    if existing is not None:
        data, columns = existing.data, contacts.columns_of(existing)
        contacts.apply_v1(tenant, data, body, columns)
    contacts.require_reachable(data, v2=False)
    contact = contacts.save(tenant, existing, data, columns)
    nulls = request.sandbox_settings["v1_nulls"]
    return JsonResponse(
        contacts.to_v1(contact, full=True, nulls=nulls), status=200 if upsert else 201
    )


def _list_contacts(request: KeapRequest) -> JsonResponse:
    query = request.GET
    limit, offset = v1_paging.window(request)
    order = query.get("order") or "id"
    if order not in ORDER_COLUMNS:
        raise BadInput(f"Invalid order: {order}; use one of {', '.join(ORDER_COLUMNS)}")
    direction = query.get("order_direction") or "ASCENDING"
    if direction not in ("ASCENDING", "DESCENDING"):
        raise BadInput("Invalid order_direction: use ASCENDING or DESCENDING")
    rows = contacts.for_tenant(request.keap.tenant)
    if query.get("email"):
        rows = rows.filter(contacts.email_filter(query["email"].rstrip("*")))
    for name in ("given_name", "family_name"):
        if query.get(name):
            rows = rows.filter(**{f"{name}__iexact": query[name]})
    # since and until are both inclusive, on last_updated (milliseconds).
    if query.get("since"):
        rows = rows.filter(updated_ms__gte=contact_fields.parse_time(query["since"], "since"))
    if query.get("until"):
        rows = rows.filter(updated_ms__lte=contact_fields.parse_time(query["until"], "until"))
    prefix = "-" if direction == "DESCENDING" else ""
    rows = rows.order_by(*(prefix + column for column in ORDER_COLUMNS[order]))
    total = rows.count()
    page = contacts.page(rows[offset : offset + limit]) if limit else []
    nulls = request.sandbox_settings["v1_nulls"]
    return JsonResponse(
        {
            "contacts": [contacts.to_v1(contact, full=False, nulls=nulls) for contact in page],
            "count": total,
            **v1_paging.links(request, limit, offset),
        }
    )


@csrf_exempt
@allow_methods("GET", "PATCH", "DELETE", error=v1_error)
def contact_item(request: KeapRequest, contact_id: str) -> HttpResponse:
    """/v1/contacts/{id}: GET one (FullContact), PATCH given fields, DELETE (204)."""
    if not contact_id.isdigit():
        raise BadInput(f"Invalid contact id: {contact_id}")
    tenant = request.keap.tenant
    contact = contacts.get(tenant, contact_id)
    if contact is None:
        return v1_error(404, f"Contact with ID {contact_id} not found")
    if request.method == "DELETE":
        contacts.delete(tenant, [contact.keap_id])
        return HttpResponse(status=204)
    if request.method == "PATCH":
        body = contact_fields.check_body(json_body(request), contact_fields.V1_CONTACT)
        mask = _update_mask(request, PATCH_MASK)
        if mask:
            body = {key: body.get(key) for key in mask if key in contact_fields.V1_CONTACT}
        data, columns = contact.data, contacts.columns_of(contact)
        contacts.apply_v1(tenant, data, body, columns)
        contacts.require_reachable(data, v2=False)
        contact = contacts.save(tenant, contact, data, columns)
    nulls = request.sandbox_settings["v1_nulls"]
    return JsonResponse(contacts.to_v1(contact, full=True, nulls=nulls))


@csrf_exempt
@allow_methods("GET", error=v1_error)
def contact_model(request: KeapRequest) -> JsonResponse:
    """GET /v1/contacts/model: the contact custom fields and optional properties."""
    return JsonResponse(custom_fields.model_v1())


def _update_mask(request: KeapRequest, allowed: list[str]) -> list[str]:
    mask = list_param(request.GET, "update_mask")
    for name in mask:
        if name not in allowed:
            raise BadInput(f"Invalid update_mask field: {name}")
    return mask


@csrf_exempt
@allow_methods("POST", error=v1_error)
def achieve_goal(request: KeapRequest, integration: str, call_name: str) -> HttpResponse:
    """POST /v1/campaigns/goals/{integration}/{callName}: 201 and one result per goal fired."""
    body = json_body(request)
    if not isinstance(body, dict):
        raise BadInput("Request body must be a JSON object")
    unknown = set(body) - {"contact_id"}
    if unknown:
        raise BadInput(f"Unrecognized field '{sorted(unknown)[0]}'")
    contact_id = body.get("contact_id")
    # An int64 in Keap's document: a number past it does not bind (Jackson refuses it).
    if (
        isinstance(contact_id, bool)
        or not isinstance(contact_id, int)
        or not -(2**63) <= contact_id < 2**63
    ):
        raise BadInput("contact_id is required and must be a 64-bit integer")
    try:
        fired = goals.achieve(
            tenant=request.keap.tenant,
            contact_id=contact_id,
            integration=integration,
            call_name=call_name,
            api="v1",
        )
    except goals.UnknownContact as exc:
        return v1_error(request.sandbox_settings["goal_unknown_contact_status"], exc.message)
    results = [
        {
            "campaign_id": goal.campaign_id,
            "goal_id": goal.pk,
            "message": "Goal achieved",
            "success": True,
        }
        for goal in fired
    ]
    return JsonResponse(results, status=201, safe=False)


@csrf_exempt
def not_found(request: KeapRequest) -> JsonResponse:
    """Any other /crm/rest path with a valid token: v1's 404 body."""
    return v1_error(404, f"No resource found at {request.path}")
