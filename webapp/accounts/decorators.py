"""View decorators for response headers that one view needs and the site-wide settings do not give."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase

V = TypeVar("V", bound=Callable[..., HttpResponseBase])


def no_referrer(view: V) -> V:
    """Send `Referrer-Policy: no-referrer` with every response of this view.

    For OAuth callbacks: their URL carries the authorization code and state, and the page or redirect
    they answer with must not hand that URL to anyone as a Referer, not even to our own pages.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        # SecurityMiddleware only sets Referrer-Policy when the response has none, so this wins.
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper  # type: ignore[return-value]  # the same view, with one header more
