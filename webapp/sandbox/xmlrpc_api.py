"""Keap's XML-RPC endpoint (`/crm/xmlrpc/v1`), serving `FunnelService.achieveGoal`.

Authenticated by the gateway with a Bearer token (or API key); the method's first argument, the
legacy "private key", is required by the signature but ignored (docs/keap/API.md §3.3). Answers and
faults are standard XML-RPC over HTTP 200, built with the stdlib. The result members mirror
REST v1 in camelCase (Keap's names are UNCONFIRMED).
"""

import xmlrpc.client
from typing import Any
from xml.parsers.expat import ExpatError

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox import goals
from webapp.sandbox.gateway import KeapRequest

# Standard XML-RPC interoperability codes for protocol errors; Infusionsoft's `[Kind]message`
# style for application errors.
PARSE_ERROR = -32700
NO_METHOD = -32601
BAD_PARAMS = -32602
RECORD_NOT_FOUND = 6


def _respond(value: Any) -> HttpResponse:
    body = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=False)
    return HttpResponse(body, content_type="text/xml; charset=UTF-8")


def _fault(code: int, message: str) -> HttpResponse:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True)
    return HttpResponse(body, content_type="text/xml; charset=UTF-8")


def _no_method_matching() -> HttpResponse:
    return _fault(
        BAD_PARAMS,
        "No method matching arguments: achieveGoal(String key, String integration, "
        "String callName, int contactId)",
    )


@csrf_exempt
def endpoint(request: KeapRequest) -> HttpResponse:
    """POST /crm/xmlrpc/v1: dispatch an XML-RPC call; only FunnelService.achieveGoal exists."""
    if request.method != "POST":
        response = HttpResponse("XML-RPC takes POST", status=405, content_type="text/plain")
        response["Allow"] = "POST"
        return response
    try:
        params, method = xmlrpc.client.loads(request.body)
    except (ExpatError, ValueError, TypeError, xmlrpc.client.ResponseError):
        return _fault(PARSE_ERROR, "Failed to parse XML-RPC request")
    if method != "FunnelService.achieveGoal":
        return _fault(NO_METHOD, f"No such handler: {method}")
    if len(params) != 4:
        return _no_method_matching()
    _key, integration, call_name, contact_id = params
    if (
        not isinstance(_key, str)
        or not isinstance(integration, str)
        or not isinstance(call_name, str)
        or isinstance(contact_id, bool)
        or not isinstance(contact_id, int)
        # XML-RPC's int is 32 bits; Keap's Java server would not take a larger one as an int.
        or not -(2**31) <= contact_id < 2**31
    ):
        return _no_method_matching()
    try:
        fired = goals.achieve(
            tenant=request.keap.tenant,
            contact_id=contact_id,
            integration=integration,
            call_name=call_name,
            api="xmlrpc",
        )
    except goals.UnknownContact:
        return _fault(
            RECORD_NOT_FOUND, f"[RecordNotFound]Unable to find Contact with Id: {contact_id}"
        )
    return _respond(
        [
            {
                "campaignId": goal.campaign_id,
                "goalId": goal.pk,
                "message": "Goal achieved",
                "success": True,
            }
            for goal in fired
        ]
    )
