"""Keap's application error bodies: v1 `{"message"}` and v2 `{code, message, status, details}`."""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse

V2_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    500: "INTERNAL",
}


def v1_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def v2_error(status: int, message: str) -> JsonResponse:
    # `details` is an array in the v2 schema; the gateway's 429 body has null, which is not ours.
    body = {"code": status, "message": message, "status": V2_STATUS.get(status, "UNKNOWN")}
    return JsonResponse({**body, "details": []}, status=status)


def allow_methods(*methods: str, error: Callable[[int, str], HttpResponse]):
    """Refuse other HTTP methods with the API version's own error body (after the gateway)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = error(405, f"Request method '{request.method}' is not supported")
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
