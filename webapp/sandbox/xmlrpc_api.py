"""Keap's XML-RPC endpoint (`/crm/xmlrpc/v1`): `FunnelService.achieveGoal`, `ContactService.add`
and `DataService.query` (xmlrpc_data.py), the calls legacy integrations still make.

Authenticated by the gateway with a Bearer token, `?access_token=` or an API key; each method's
first argument, the legacy "private key", is required by the signature but ignored
(docs/keap/API.md §3.3). Answers and faults are standard XML-RPC over HTTP 200, built with the
stdlib; faults carry Infusionsoft's `[Kind]message` strings (docs/keap/API.md §3.3). Arguments
that fit no signature get the Java server's "No method matching arguments: java.lang.String, ..."
fault. achieveGoal's result members mirror REST v1 in camelCase (Keap's names are UNCONFIRMED).
"""

import xmlrpc.client
from collections.abc import Callable
from typing import Any
from xml.parsers.expat import ExpatError

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.sandbox import contact_fields, contacts, goals, xmlrpc_data
from webapp.sandbox.api_errors import BadInput
from webapp.sandbox.gateway import KeapRequest
from webapp.sandbox.xmlrpc_data import BAD_PARAMS, INVALID_PARAMETER, RECORD_NOT_FOUND, fault

# Standard XML-RPC interoperability codes for protocol errors.
PARSE_ERROR = -32700
NO_METHOD = -32601
# What a Java XML-RPC server calls each XML-RPC type when no method takes the arguments given.
JAVA_TYPES = [
    (bool, "java.lang.Boolean"),
    (int, "java.lang.Integer"),
    (float, "java.lang.Double"),
    (str, "java.lang.String"),
    (dict, "java.util.HashMap"),
    (list, "[Ljava.lang.Object;"),
    (xmlrpc.client.DateTime, "java.util.Date"),
    (xmlrpc.client.Binary, "[B"),
]
INT32 = range(-(2**31), 2**31)
Handler = Callable[[KeapRequest, tuple[Any, ...]], Any]


def _respond(value: Any) -> HttpResponse:
    body = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=False)
    return HttpResponse(body, content_type="text/xml; charset=UTF-8")


def _fault_response(error: xmlrpc.client.Fault) -> HttpResponse:
    body = xmlrpc.client.dumps(error, methodresponse=True)
    return HttpResponse(body, content_type="text/xml; charset=UTF-8")


def _java_type(value: Any) -> str:
    return next((name for kind, name in JAVA_TYPES if isinstance(value, kind)), "java.lang.Object")


def expect(params: tuple[Any, ...], *signatures: tuple[type, ...]) -> None:
    """Fault unless the arguments fit one of the signatures (an int must fit 32 bits: that is
    XML-RPC's int, and a larger one is no Java int)."""
    for signature in signatures:
        if len(params) == len(signature) and all(
            isinstance(value, kind)
            and not (isinstance(value, bool) and kind is not bool)
            and not (kind is int and value not in INT32)
            for value, kind in zip(params, signature, strict=True)
        ):
            return
    types = ", ".join(_java_type(value) for value in params)
    raise fault(BAD_PARAMS, f"No method matching arguments: {types}")


def _achieve_goal(request: KeapRequest, params: tuple[Any, ...]) -> Any:
    """FunnelService.achieveGoal(key, integration, callName, contactId)."""
    expect(params, (str, str, str, int))
    _key, integration, call_name, contact_id = params
    try:
        fired = goals.achieve(
            tenant=request.keap.tenant,
            contact_id=contact_id,
            integration=integration,
            call_name=call_name,
            api="xmlrpc",
        )
    except goals.UnknownContact:
        raise fault(
            RECORD_NOT_FOUND, f"[RecordNotFound]Unable to find Contact with Id: {contact_id}"
        ) from None
    return [
        {
            "campaignId": goal.campaign_id,
            "goalId": goal.pk,
            "message": "Goal achieved",
            "success": True,
        }
        for goal in fired
    ]


def _contact_add(request: KeapRequest, params: tuple[Any, ...]) -> Any:
    """ContactService.add(key, data): a new contact from the legacy Contact fields; its id.

    No email or phone is required, as the legacy API required none (UNCONFIRMED); the values
    are held to the same rules as REST v1's, through its body check.
    """
    expect(params, (str, dict))
    tenant = request.keap.tenant
    try:
        body = contact_fields.check_body(
            xmlrpc_data.contact_body(params[1]), contact_fields.V1_CONTACT
        )
        data: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        contacts.apply_v1(tenant, data, body, columns)
    except BadInput as exc:
        raise fault(INVALID_PARAMETER, f"[InvalidParameter]{exc.message}") from None
    return contacts.save(tenant, None, data, columns).keap_id


def _data_query(request: KeapRequest, params: tuple[Any, ...]) -> Any:
    """DataService.query(key, table, limit, page, queryData, selectedFields[, orderBy,
    ascending])."""
    expect(
        params,
        (str, str, int, int, dict, list),
        (str, str, int, int, dict, list, str, bool),
    )
    _key, table, limit, page, query, fields, *order = params
    return xmlrpc_data.query(
        request.keap.tenant,
        table=table,
        limit=limit,
        page=page,
        query=query,
        fields=fields,
        order_by=order[0] if order else "Id",
        ascending=order[1] if order else True,
    )


HANDLERS: dict[str, Handler] = {
    "FunnelService.achieveGoal": _achieve_goal,
    "ContactService.add": _contact_add,
    "DataService.query": _data_query,
}


@csrf_exempt
def endpoint(request: KeapRequest) -> HttpResponse:
    """POST /crm/xmlrpc/v1: dispatch an XML-RPC call to one of the methods above."""
    if request.method != "POST":
        response = HttpResponse("XML-RPC takes POST", status=405, content_type="text/plain")
        response["Allow"] = "POST"
        return response
    try:
        params, method = xmlrpc.client.loads(request.body)
    except (ExpatError, ValueError, TypeError, xmlrpc.client.ResponseError):
        return _fault_response(fault(PARSE_ERROR, "Failed to parse XML-RPC request"))
    handler = HANDLERS.get(method or "")
    if handler is None:
        return _fault_response(fault(NO_METHOD, f"No such handler: {method}"))
    try:
        return _respond(handler(request, params))
    except xmlrpc.client.Fault as error:
        return _fault_response(error)
