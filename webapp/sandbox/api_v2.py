"""Keap REST v2 (`/crm/rest/v2/...`): userinfo and business profile so far.

Shapes follow the v2 documents (GetUserInfoResponse, GetBusinessProfileResponse); the 2026-08
document adds `tenant_id` to userinfo, which the sandbox sends.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox.api_errors import allow_methods, v2_error
from webapp.sandbox.models import Membership


def _compact(data: dict) -> dict:
    return {key: value for key, value in data.items() if value not in ("", None)}


@csrf_exempt
@allow_methods("GET", error=v2_error)
def userinfo(request: HttpRequest) -> JsonResponse:
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
def business_profile(request: HttpRequest) -> JsonResponse:
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
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other /crm/rest/v2 path with a valid token: v2's 404 body."""
    return v2_error(404, f"No resource found at {request.path}")
