"""Keap REST v1 (`/crm/rest/v1/...`): userinfo and account profile so far.

Shapes follow the v1 OpenAPI document (UserInfoDTO, AccountProfile). Optional string fields
that have no value are left out, as Keap's JSON serialiser leaves out nulls.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox.api_errors import allow_methods, v1_error
from webapp.sandbox.models import Membership


def _compact(data: dict) -> dict:
    return {key: value for key, value in data.items() if value not in ("", None)}


@csrf_exempt
@allow_methods("GET", error=v1_error)
def userinfo(request: HttpRequest) -> JsonResponse:
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
def account_profile(request: HttpRequest) -> JsonResponse:
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
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other /crm/rest path with a valid token: v1's 404 body."""
    return v1_error(404, f"No resource found at {request.path}")
