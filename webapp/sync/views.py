"""The sync panel on a connection's page: progress, Sync now, Cancel, recent runs, contacts.

Every view works without JavaScript (forms POST and redirect back to the connection page, links
reload it); with htmx, the same URLs answer with the partial of `sync/_panel.html` to swap in.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from webapp.connections.access import connection_for_user
from webapp.connections.models import KeapConnection
from webapp.http import CustomerRequest
from webapp.sync import flows
from webapp.sync.models import Contact, SyncRun

CONTACTS_PER_PAGE = 25
RECENT_RUNS = 5
MAX_QUERY_LENGTH = 100


def _connection_page(connection: KeapConnection, query: str = "") -> str:
    url = reverse("connections:detail", args=[connection.pk])
    return f"{url}{'?' + query if query else ''}#sync"


def progress_context(connection: KeapConnection) -> dict[str, Any]:
    """The active run, if any, and the last finished ones."""
    runs = SyncRun.objects.for_connection(connection)
    return {
        "connection": connection,
        "active_run": runs.active().first(),
        "recent_runs": list(runs.finished().order_by("-finished_at", "-pk")[:RECENT_RUNS]),
    }


def contacts_context(request: CustomerRequest, connection: KeapConnection) -> dict[str, Any]:
    """One page of the connection's contacts, searched by `q` (names, email)."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    contacts = Contact.objects.for_connection(connection).only(
        "keap_id", "given_name", "family_name", "email", "company", "keap_updated_at"
    )
    if query:
        contacts = contacts.search(query)
    page = Paginator(contacts, CONTACTS_PER_PAGE).get_page(request.GET.get("page"))
    return {"connection": connection, "contacts_page": page, "q": query}


def panel_context(request: CustomerRequest, connection: KeapConnection) -> dict[str, Any]:
    """Everything `sync/_panel.html` needs, to merge into the connection page's context."""
    return {**progress_context(connection), **contacts_context(request, connection)}


def _progress_response(request: CustomerRequest, connection: KeapConnection) -> HttpResponse:
    context = progress_context(connection)
    response = render(request, "sync/_panel.html#progress", context)
    watched = request.GET.get("run", "")
    active = context["active_run"]
    if watched.isdigit() and (active is None or str(active.pk) != watched):
        # The run the page was watching is over: let the contacts table reload itself.
        trigger_client_event(response, "sync-finished")
    return response


@require_GET
@login_required
def progress(request: CustomerRequest, pk: int) -> HttpResponse:
    """The progress fragment htmx polls while a run is active; the page itself without htmx."""
    connection = connection_for_user(request, pk)
    if not request.htmx:
        return HttpResponseRedirect(_connection_page(connection))
    return _progress_response(request, connection)


@require_GET
@login_required
def contacts(request: CustomerRequest, pk: int) -> HttpResponse:
    """The contacts table (search `q`, `page`); the connection page itself without htmx."""
    connection = connection_for_user(request, pk)
    if not request.htmx:
        return HttpResponseRedirect(_connection_page(connection, request.GET.urlencode()))
    return render(request, "sync/_panel.html#contacts", contacts_context(request, connection))


@require_POST
@login_required
def sync_now(request: CustomerRequest, pk: int) -> HttpResponse:
    """Start an incremental sync now (a full one if the connection never synced)."""
    connection = connection_for_user(request, pk)
    flows.start_sync(connection=connection, kind=SyncRun.Kind.INCREMENTAL)
    if not request.htmx:
        return HttpResponseRedirect(_connection_page(connection))
    return _progress_response(request, connection)


@require_POST
@login_required
def cancel(request: CustomerRequest, pk: int, run_pk: int) -> HttpResponse:
    """Cancel a run: at once if queued, after its current page if running."""
    connection = connection_for_user(request, pk)
    run = get_object_or_404(SyncRun.objects.for_connection(connection), pk=run_pk)
    flows.cancel_run(run=run)
    if not request.htmx:
        return HttpResponseRedirect(_connection_page(connection))
    return _progress_response(request, connection)
