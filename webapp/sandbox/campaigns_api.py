"""Keap REST v2 campaigns (`/crm/rest/v2/campaigns`, `/{campaign_id}`, `/{campaign_id}/goals`):
list a tenant's campaigns, get one, and list its goals.

Shapes follow both v2 documents (ListCampaignsResponse, Campaign, ListCampaignGoalsResponse,
Goal); `filter` and `order_by` are the 2026-08 document's (`name==` matches anywhere in the name;
name, publisheddate, id, completedContactCount, activeContacts, datecreated, lastupdated, then
asc or desc). A goal names no integration or call name in Keap's shape: the goals here are the
API goals goals.py fires, by (integration, call name) over v1 and XML-RPC or by this campaign id
(`automation_id`) and goal id over v2. Contact counts are not tracked, so they are left out.
"""

import hashlib
from typing import Any

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox.api_errors import BadInput, allow_methods, int_param, v2_error
from webapp.sandbox.api_v2 import CLAUSE, decode_page_token, encode_page_token
from webapp.sandbox.contact_fields import is_id, v2_time
from webapp.sandbox.gateway import KeapRequest
from webapp.sandbox.models import Campaign, Tenant

# order_by names, and how each sorts (what is not tracked sorts as 0, then by id).
ORDER_KEYS = {
    "id": lambda c: (0, c.pk),
    "name": lambda c: (c.name.lower(), c.pk),
    "datecreated": lambda c: (c.created_ms or 0, c.pk),
    "publisheddate": lambda c: ((c.created_ms or 0) if c.published else 0, c.pk),
    "lastupdated": lambda c: (c.created_ms or 0, c.pk),
    "completedContactCount": lambda c: (0, c.pk),
    "activeContacts": lambda c: (0, c.pk),
}


def to_v2(campaign: Campaign, tenant: Tenant) -> dict[str, Any]:
    """v2's Campaign; a draft has no published date."""
    body: dict[str, Any] = {
        "id": str(campaign.pk),
        "name": campaign.name,
        "locked": False,
        "published_status": campaign.published,
        "time_zone": tenant.time_zone,
    }
    if campaign.created_ms is not None:
        body["date_created"] = v2_time(campaign.created_ms)
        if campaign.published:
            body["published_date"] = v2_time(campaign.created_ms)
    if campaign.published:
        body["published_time_zone"] = tenant.time_zone
    return body


@csrf_exempt
@allow_methods("GET", error=v2_error)
def campaign_collection(request: KeapRequest) -> JsonResponse:
    """GET /v2/campaigns: `filter=name==text`, `order_by`, `page_size`, `page_token`."""
    query = request.GET
    clamp = request.sandbox_settings["page_size_overflow"] == "clamp"
    page_size = int_param(query, "page_size", 0, low=0, high=1000, clamp=clamp)
    page_size = page_size or request.sandbox_settings["v2_default_page_size"]
    filter_text, order_text = query.get("filter", ""), query.get("order_by", "") or "id"
    tenant = request.keap.tenant
    rows = list(Campaign.objects.filter(tenant=tenant))
    needle = _name_filter(filter_text)
    if needle:
        rows = [row for row in rows if needle in row.name.lower()]
    key, descending = _order(order_text)
    rows.sort(key=key, reverse=descending)
    fingerprint = hashlib.sha256(f"{filter_text}\n{order_text}".encode()).hexdigest()[:12]
    token = query.get("page_token")
    start = decode_page_token(token, fingerprint)[0] if token else 0
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise BadInput("Invalid page_token (it must come from a response to the same query)")
    body: dict[str, Any] = {
        "campaigns": [to_v2(row, tenant) for row in rows[start : start + page_size]]
    }
    if start + page_size < len(rows):
        body["next_page_token"] = encode_page_token([start + page_size, 0], fingerprint)
    return JsonResponse(body)


def _name_filter(text: str) -> str:
    needle = ""
    for clause in filter(None, (part.strip() for part in text.split(";"))):
        match = CLAUSE.match(clause)
        if not match or match.group(1) != "name" or match.group(2) != "==":
            raise BadInput(f"Invalid filter: {clause!r}; campaigns filter on name==text")
        needle = match.group(3).lower()
    return needle


def _order(text: str) -> tuple[Any, bool]:
    parts = text.replace("+", " ").split()
    if not parts or parts[0] not in ORDER_KEYS or len(parts) > 2:
        raise BadInput(f"Invalid order_by: {text!r}; use one of {', '.join(ORDER_KEYS)}")
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise BadInput("Invalid order_by direction: use asc or desc")
    return ORDER_KEYS[parts[0]], direction == "desc"


def _campaign(request: KeapRequest, campaign_id: str) -> Campaign | None:
    if not is_id(campaign_id):
        raise BadInput(f"Invalid campaign_id: {campaign_id}")
    return Campaign.objects.filter(tenant=request.keap.tenant, pk=int(campaign_id)).first()


@csrf_exempt
@allow_methods("GET", error=v2_error)
def campaign_item(request: KeapRequest, campaign_id: str) -> JsonResponse:
    """GET /v2/campaigns/{campaign_id}: one campaign."""
    campaign = _campaign(request, campaign_id)
    if campaign is None:
        return v2_error(404, f"Campaign {campaign_id} not found")
    return JsonResponse(to_v2(campaign, request.keap.tenant))


@csrf_exempt
@allow_methods("GET", error=v2_error)
def campaign_goals(request: KeapRequest, campaign_id: str) -> JsonResponse:
    """GET /v2/campaigns/{campaign_id}/goals: the campaign's goals, every one an API goal."""
    campaign = _campaign(request, campaign_id)
    if campaign is None:
        return v2_error(404, f"Campaign {campaign_id} not found")
    goals = [
        {
            "id": str(goal.pk),
            "name": goal.name,
            "type": "API",
            "next_sequence_ids": [],
            "previous_sequence_ids": [],
        }
        for goal in campaign.goals.order_by("pk")
    ]
    return JsonResponse({"goals": goals, "campaign_id": str(campaign.pk)})
