"""Keap's application error bodies: v1 `{"message"}` and v2 `{code, message, status, details}`.

Also the one place that turns bad input into those bodies: views raise `BadInput`, and
`answers_bad_input` renders it, so no malformed request can reach a traceback.
"""

import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict

V2_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    500: "INTERNAL",
}


INT32_TEXT = re.compile(r"[+-]?[0-9]{1,11}")


class BadInput(ValueError):
    """A request the API refuses with a 400 (or `status`), carrying Keap's message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def v1_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def v2_error(status: int, message: str) -> JsonResponse:
    # `details` is an array in the v2 schema; the gateway's 429 body has null, which is not ours.
    body = {"code": status, "message": message, "status": V2_STATUS.get(status, "UNKNOWN")}
    return JsonResponse({**body, "details": []}, status=status)


P = ParamSpec("P")
R = TypeVar("R", bound=HttpRequest)
View = Callable[Concatenate[R, P], HttpResponse]


def allow_methods(
    *methods: str, error: Callable[[int, str], HttpResponse]
) -> Callable[[View[R, P]], View[R, P]]:
    """Refuse other HTTP methods with the API version's own error body (after the gateway),
    and answer any `BadInput` the view raises with the same body."""

    def decorator(view: View[R, P]) -> View[R, P]:
        @wraps(view)
        def wrapper(request: R, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            if request.method not in methods:
                response = error(405, f"Request method '{request.method}' is not supported")
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except BadInput as exc:
                return error(exc.status, exc.message)

        return wrapper

    return decorator


def json_body(request: HttpRequest) -> Any:
    """The request's JSON body, or BadInput (never a parser traceback)."""
    if not request.body:
        raise BadInput("Request body is required")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise BadInput("Malformed JSON in request body") from None


def int_param(
    query: QueryDict,
    name: str,
    default: int,
    *,
    low: int,
    high: int | None = None,
    clamp: bool = False,
) -> int:
    """An integer query parameter within [low, high]; over `high` is clamped or refused.

    Keap's documents declare these int32, and its (Java) binding takes nothing else: no
    `1_000`, no non-ASCII digits, nothing beyond 2,147,483,647, whatever `clamp` says.
    """
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not INT32_TEXT.fullmatch(raw) or not -(2**31) <= int(raw) < 2**31:
        raise BadInput(f"Invalid {name}: {raw!r} is not a 32-bit integer")
    value = int(raw)
    if value < low:
        raise BadInput(f"Invalid {name}: must be at least {low}")
    if high is not None and value > high:
        if clamp:
            return high
        raise BadInput(f"Invalid {name}: must be at most {high}")
    return value


def list_param(query: QueryDict, name: str) -> list[str]:
    """A list parameter sent as `a,b` or repeated (`?x=a&x=b`)."""
    items: list[str] = []
    for raw in query.getlist(name):
        items.extend(part.strip() for part in raw.split(",") if part.strip())
    return items
