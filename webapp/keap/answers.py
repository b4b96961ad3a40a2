"""Reading Keap's answers: JSON bodies, contact lists, and the text of Keap's errors.

What a body says is judged here and typed in webapp.keap.results; a body that is not what the
protocol promises raises KeapProtocolError.
"""

from collections.abc import Callable
from typing import Any

import orjson
import requests

from webapp.keap import results
from webapp.keap.errors import KeapProtocolError
from webapp.keap.results import Contact


def decode(response: requests.Response, path: str) -> Any:
    """The answer's JSON, or KeapProtocolError."""
    # orjson (several times faster than the json module on a 1,000-contact page) reads the
    # bytes as they came. What it refuses but the json module reads (another encoding than
    # UTF-8, a lone surrogate escape, NaN, an integer past 64 bits, nesting past its limit of
    # 1,024) is decoded the ordinary way, so such a body is judged exactly as before.
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise KeapProtocolError(f"Keap's answer to {path} is not JSON.") from None


def json_object(response: requests.Response, path: str) -> dict[str, Any]:
    """The answer's JSON object, or KeapProtocolError."""
    body = decode(response, path)
    if not isinstance(body, dict):
        raise KeapProtocolError(f"Keap's answer to {path} is not a JSON object.")
    return body


def read_contacts(
    response: requests.Response, path: str, read: Callable[..., Contact]
) -> tuple[dict[str, Any], list[Contact]]:
    """A contact list answer: the JSON object, and its contacts typed."""
    body = json_object(response, path)
    items = body.get("contacts")
    if not isinstance(items, list):
        raise KeapProtocolError(f"Keap's answer to {path} has no `contacts` array.")
    return body, [read(item) for item in items]


def read_contacts_v2(
    response: requests.Response, path: str
) -> tuple[dict[str, Any], list[Contact]]:
    """A v2 contact list answer: the fast reader's when the page is of the plain shape, else
    read (and refused) the general way."""
    fast = results.contacts_from_v2_page(response.content)
    if fast is None:
        return read_contacts(response, path, results.contact_from_v2)
    token, contacts = fast
    return {"next_page_token": token}, contacts


def error_message(response: requests.Response | None) -> str:
    """Keap's error text: v1 `{"message"}`, v2 `{code, message, status}`, or a gateway fault."""
    if response is None:
        return ""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return ""
    if isinstance(body, dict):
        fault = body.get("fault")
        if isinstance(fault, dict):
            return str(fault.get("faultstring", ""))[:300]
        return str(body.get("message", ""))[:300]
    return ""


def fault_code(response: requests.Response | None) -> str:
    """The gateway fault's error code (e.g. `keymanagement.service.invalid_access_token`)."""
    try:
        # No response (None) is one of the errors caught below.
        return str(response.json()["fault"]["detail"]["errorcode"])  # type: ignore[union-attr]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return ""
