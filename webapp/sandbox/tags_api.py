"""Keap REST v1 tags (`/crm/rest/v1/tags...`, `/crm/rest/v1/contacts/{id}/tags...`): list a
tenant's tags, get one, list a contact's tags, apply and remove them.

Paths, parameters and shapes follow the v1 document (Tags, Tag, ContactTagList, TagId). Applying
answers 200 with one result per tag id, `{"<tag id>": "SUCCESS" | "DUPLICATE" |
"TAG_ID_NOT_FOUND" | "CONTACT_NOT_FOUND"}`: the document's `Entry«long,string»` array is how its generator drew that
Java map, which goes over the wire as a JSON object (tests/sandbox/keap_doc_errata.py).
Errors are `{"message"}`; a contact or tag of another tenant is a 404, as one that never existed.
"""

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox import tags, v1_paging
from webapp.sandbox.api_errors import BadInput, allow_methods, json_body, list_param, v1_error
from webapp.sandbox.contact_fields import is_id
from webapp.sandbox.gateway import KeapRequest
from webapp.sandbox.models import Contact


def _id(text: str, what: str) -> int:
    if not is_id(text):
        raise BadInput(f"Invalid {what}: {text}")
    return int(text)


def _contact_not_found(contact_id: int) -> JsonResponse:
    return v1_error(404, f"Contact with ID {contact_id} not found")


@csrf_exempt
@allow_methods("GET", error=v1_error)
def tag_collection(request: KeapRequest) -> JsonResponse:
    """GET /v1/tags: the tenant's tags, by id; `category` (an id) and `name` (exact) filter."""
    limit, offset = v1_paging.window(request)
    rows = tags.for_tenant(request.keap.tenant)
    if request.GET.get("category"):
        rows = rows.filter(category__keap_id=_id(request.GET["category"], "category"))
    if request.GET.get("name"):
        rows = rows.filter(name__iexact=request.GET["name"])
    total = rows.count()
    page = list(rows[offset : offset + limit]) if limit else []
    return JsonResponse(
        {
            "tags": [tags.to_v1(tag) for tag in page],
            "count": total,
            **v1_paging.links(request, limit, offset),
        }
    )


@csrf_exempt
@allow_methods("GET", error=v1_error)
def tag_item(request: KeapRequest, tag_id: str) -> JsonResponse:
    """GET /v1/tags/{id}: one tag."""
    tag = tags.for_tenant(request.keap.tenant).filter(keap_id=_id(tag_id, "tag id")).first()
    if tag is None:
        return v1_error(404, f"Tag with ID {tag_id} not found")
    return JsonResponse(tags.to_v1(tag))


@csrf_exempt
@allow_methods("GET", "POST", "DELETE", error=v1_error)
def contact_tags(request: KeapRequest, contact_id: str) -> HttpResponse:
    """/v1/contacts/{id}/tags: GET the contact's tags (paged), POST {"tagIds": [...]} applies
    them (200 and a result per tag, also when the contact does not exist), DELETE ?ids=1,2
    removes them (204)."""
    tenant = request.keap.tenant
    number = _id(contact_id, "contact id")
    if request.method == "POST":
        results = tags.apply(tenant, number, _tag_ids_body(json_body(request)))
        return JsonResponse({str(tag_id): result for tag_id, result in results.items()})
    if request.method == "DELETE":
        if not tags.remove(tenant, number, _tag_ids_query(request)):
            return _contact_not_found(number)
        return HttpResponse(status=204)
    contact = Contact.objects.filter(tenant=tenant, keap_id=number).first()
    if contact is None:
        return _contact_not_found(number)
    limit, offset = v1_paging.window(request)
    applied = tags.applied_v1(tenant, contact)
    return JsonResponse(
        {
            "tags": applied[offset : offset + limit],
            "count": len(applied),
            **v1_paging.links(request, limit, offset),
        }
    )


@csrf_exempt
@allow_methods("DELETE", error=v1_error)
def contact_tag(request: KeapRequest, contact_id: str, tag_id: str) -> HttpResponse:
    """DELETE /v1/contacts/{id}/tags/{tagId}: remove one tag (204, carried or not)."""
    number = _id(contact_id, "contact id")
    if not tags.remove(request.keap.tenant, number, [_id(tag_id, "tag id")]):
        return _contact_not_found(number)
    return HttpResponse(status=204)


def _tag_ids_body(body: Any) -> list[int]:
    """The TagId body's ids: {"tagIds": [1, 2]}, 1 to 100 int64s."""
    if not isinstance(body, dict):
        raise BadInput("Request body must be a JSON object")
    for name in body:
        if name != "tagIds":
            raise BadInput(f"Unrecognized field '{name}'")
    ids = body.get("tagIds")
    if not isinstance(ids, list) or not ids:
        raise BadInput("tagIds is required: a list of tag ids")
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            raise BadInput(f"Invalid tag id in tagIds: {value!r}")
    return _at_most_100(ids)


def _tag_ids_query(request: KeapRequest) -> list[int]:
    """The required `ids` query parameter: comma-separated tag ids, 1 to 100."""
    ids = [_id(part, "tag id in ids") for part in list_param(request.GET, "ids")]
    if not ids:
        raise BadInput("ids is required: comma-separated tag ids")
    return _at_most_100(ids)


def _at_most_100(ids: list[int]) -> list[int]:
    if len(ids) > tags.MAX_TAG_IDS:
        raise BadInput(f"At most {tags.MAX_TAG_IDS} tag ids at once")
    return ids
