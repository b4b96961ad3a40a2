"""Capability notes: a page to read and search them, one page per note, and a JSON endpoint."""

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from webapp.capabilities import limits, notes


def _query(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:200]


def _limits_for(shown: list[notes.Note]) -> limits.AppLimits | None:
    # Only notes that show limits pay for the database reads.
    return limits.current() if any(note.shows_limits for note in shown) else None


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Every note, or those matching `q`; an htmx request gets just the list."""
    query = _query(request)
    shown = notes.search(query)
    context = {
        "notes": shown,
        "query": query,
        "total": len(notes.NOTES),
        "limits": _limits_for(shown),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        return render(request, "capabilities/index.html#results", context)
    return render(request, "capabilities/index.html", context)


@require_GET
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One note on a page of its own."""
    try:
        note = notes.get(slug)
    except KeyError:
        raise Http404("No such capability note.") from None
    return render(
        request, "capabilities/detail.html", {"note": note, "limits": _limits_for([note])}
    )


@require_GET
def api_notes(request: HttpRequest) -> JsonResponse:
    """The notes (matching `q`, if given) as JSON, with live limits on the throttling note."""
    query = _query(request)
    shown = notes.search(query)
    live = _limits_for(shown)
    payload = []
    for note in shown:
        item: dict[str, object] = {
            "slug": note.slug,
            "title": note.title,
            "question": note.question,
            "status": note.status.value,
            "answer": note.answer,
            "details": list(note.details),
            "onramp": note.onramp,
            "sources": [{"title": s.title, "url": s.url} for s in note.sources],
            "url": request.build_absolute_uri(reverse("capabilities:detail", args=[note.slug])),
        }
        if note.shows_limits and live is not None:
            item["limits"] = live.as_json()
        payload.append(item)
    return JsonResponse({"query": query, "count": len(payload), "notes": payload})
