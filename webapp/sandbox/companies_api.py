"""Keap REST v1 companies (`/crm/rest/v1/companies`, `/crm/rest/v1/companies/{companyId}`): list
and get a tenant's companies, the ones its contacts name by id.

Shapes follow the v1 document (CompanyList, Company); paging is v1's (`v1_paging`). Errors are
`{"message"}`; another tenant's company is a 404.
"""

from typing import Any

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox import v1_paging
from webapp.sandbox.api_errors import BadInput, allow_methods, v1_error
from webapp.sandbox.contact_fields import is_id
from webapp.sandbox.gateway import KeapRequest
from webapp.sandbox.models import Company

ORDER_COLUMNS = {
    "id": ["keap_id"],
    "date_created": ["created_ms", "keap_id"],
    "name": ["name", "keap_id"],
    "email": ["email", "keap_id"],
}


def to_v1(company: Company) -> dict[str, Any]:
    """v1's Company; empty fields left out, as everywhere in the sandbox's v1."""
    address = {
        "line1": company.address_line1,
        "locality": company.address_locality,
        "region": company.address_region,
        "zip_code": company.address_zip_code,
        "country_code": company.address_country_code,
    }
    body: dict[str, Any] = {
        "id": company.keap_id,
        "company_name": company.name,
        "email_address": company.email,
        "website": company.website,
        "notes": company.notes,
        "phone_number": company.phone and {"number": company.phone, "type": "Work"},
        "address": {key: value for key, value in address.items() if value},
        "custom_fields": [],
    }
    return {key: value for key, value in body.items() if value not in ("", None, {})}


@csrf_exempt
@allow_methods("GET", error=v1_error)
def company_collection(request: KeapRequest) -> JsonResponse:
    """GET /v1/companies: `company_name` (exact), `order`, `order_direction`, v1 paging."""
    limit, offset = v1_paging.window(request)
    order = request.GET.get("order") or "id"
    if order not in ORDER_COLUMNS:
        raise BadInput(f"Invalid order: {order}; use one of {', '.join(ORDER_COLUMNS)}")
    direction = request.GET.get("order_direction") or "ASCENDING"
    if direction not in ("ASCENDING", "DESCENDING"):
        raise BadInput("Invalid order_direction: use ASCENDING or DESCENDING")
    rows = Company.objects.filter(tenant=request.keap.tenant)
    if request.GET.get("company_name"):
        rows = rows.filter(name__iexact=request.GET["company_name"])
    prefix = "-" if direction == "DESCENDING" else ""
    rows = rows.order_by(*(prefix + column for column in ORDER_COLUMNS[order]))
    total = rows.count()
    page = list(rows[offset : offset + limit]) if limit else []
    return JsonResponse(
        {
            "companies": [to_v1(company) for company in page],
            "count": total,
            **v1_paging.links(request, limit, offset),
        }
    )


@csrf_exempt
@allow_methods("GET", error=v1_error)
def company_model(request: KeapRequest) -> JsonResponse:
    """GET /v1/companies/model: companies have no custom fields in the sandbox."""
    return JsonResponse({"custom_fields": [], "optional_properties": ["custom_fields", "notes"]})


@csrf_exempt
@allow_methods("GET", error=v1_error)
def company_item(request: KeapRequest, company_id: str) -> JsonResponse:
    """GET /v1/companies/{companyId}: one company."""
    if not is_id(company_id):
        raise BadInput(f"Invalid company id: {company_id}")
    company = Company.objects.filter(tenant=request.keap.tenant, keap_id=int(company_id)).first()
    if company is None:
        return v1_error(404, f"Company with ID {company_id} not found")
    return JsonResponse(to_v1(company))
