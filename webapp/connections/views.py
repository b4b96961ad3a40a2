"""The customer's connection pages: dashboard, connect, callback, detail, disconnect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.accounts.decorators import no_referrer
from webapp.connections import flows
from webapp.connections.access import connection_for_user
from webapp.connections.models import KeapConnection
from webapp.goals.views import panel_context as goals_panel
from webapp.hooks.status import panel_context as hooks_panel
from webapp.http import CustomerRequest
from webapp.keap.errors import KeapError
from webapp.sync.views import panel_context as sync_panel
from webapp.usage.views import panel_context as usage_panel

PANELS = (hooks_panel, sync_panel, goals_panel, usage_panel)


@require_GET
@login_required
def dashboard(request: CustomerRequest) -> HttpResponse:
    """List the customer's Keap connections."""
    connections = KeapConnection.objects.owned_by(request.user)
    return render(request, "connections/dashboard.html", {"connections": connections})


@require_POST
@login_required
def connect_start(request: CustomerRequest) -> HttpResponse:
    """Send the browser to Keap's consent page with a session-bound state."""
    try:
        url = flows.begin_connect(session=request.session)
    except flows.ConnectUnavailable as exc:
        return _connect_error(request, exc)
    except KeapError:
        messages.error(request, "Keap could not be reached. Please try again in a moment.")
        return redirect("connections:dashboard")
    return HttpResponseRedirect(url)


def _connect_error(request: CustomerRequest, exc: flows.ConnectError) -> HttpResponse:
    context = {"message": str(exc), "denied": isinstance(exc, flows.ConnectDenied)}
    response = render(request, "connections/callback_error.html", context, status=exc.status)
    if isinstance(exc, flows.ConnectUnavailable):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _callback_params(request: CustomerRequest) -> QueryDict:
    """The callback's query. More fields than Django will parse is not an answer from Keap."""
    try:
        return request.GET
    except TooManyFieldsSent:
        raise flows.ConnectError(
            "Keap's answer has too many parameters; it was not accepted."
        ) from None


@require_GET
@no_referrer
@login_required
def connect_callback(request: CustomerRequest) -> HttpResponse:
    """Keap's redirect back: finish connecting, or explain why not."""
    try:
        connection = flows.complete_connect(
            user=request.user, session=request.session, params=_callback_params(request)
        )
    except flows.ConnectError as exc:
        return _connect_error(request, exc)
    messages.success(
        request, f"Connected Keap app {connection.app_name} ({connection.business_name})."
    )
    return redirect("connections:detail", pk=connection.pk)


@require_GET
@login_required
def detail(request: CustomerRequest, pk: int) -> HttpResponse:
    """One connection: its status, tokens' expiry (never the tokens) and history."""
    connection = connection_for_user(request, pk)
    context = {"connection": connection, "events": connection.events.select_related("actor")[:20]}
    # Each domain that has a panel on this page supplies its own context.
    for panel_context in PANELS:
        context.update(panel_context(request, connection))
    return render(request, "connections/detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def disconnect(request: CustomerRequest, pk: int) -> HttpResponse:
    """Ask for confirmation, then delete the tokens and mark the connection disconnected."""
    connection = connection_for_user(request, pk)
    if request.method == "GET":
        return render(request, "connections/disconnect.html", {"connection": connection})
    delete_data = request.POST.get("delete_data") == "yes"
    deleted = flows.disconnect(connection=connection, actor=request.user, delete_data=delete_data)
    note = f" and {deleted} synced contacts" if delete_data else ""
    messages.success(
        request, f"Disconnected Keap app {connection.app_name}. Its tokens{note} are deleted."
    )
    return redirect("connections:dashboard")
