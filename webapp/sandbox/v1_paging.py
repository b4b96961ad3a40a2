"""Keap v1's offset paging, shared by its lists: `limit` (at most 1000, the default) and `offset`
in; the total `count` and absolute `next` and `previous` links out (docs/keap/API.md §2.2)."""

from urllib.parse import urlencode

from webapp.sandbox.api_errors import int_param
from webapp.sandbox.gateway import KeapRequest


def window(request: KeapRequest) -> tuple[int, int]:
    """The request's (limit, offset); a limit over 1000 is refused or clamped, as switched."""
    clamp = request.sandbox_settings["page_size_overflow"] == "clamp"
    limit = int_param(request.GET, "limit", 1000, low=0, high=1000, clamp=clamp)
    offset = int_param(request.GET, "offset", 0, low=0)
    return limit, offset


def links(request: KeapRequest, limit: int, offset: int) -> dict[str, str]:
    """`next` and `previous`: this request's URL with the window moved by one page."""
    return {
        "next": _url(request, limit, offset + limit),
        "previous": _url(request, limit, max(0, offset - limit)),
    }


def _url(request: KeapRequest, limit: int, offset: int) -> str:
    # A token sent in the query string is not echoed into links that get logged and shared.
    params: dict[str, str | int] = {
        key: request.GET[key]
        for key in request.GET
        if key not in ("limit", "offset", "access_token")
    }
    params.update(limit=limit, offset=offset)
    return request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
