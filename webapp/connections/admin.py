from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.operations import actions
from webapp.readonly_admin import ReadOnlyAdmin

# The sealed token columns: never a field, a column, a filter or a search of any admin page.
TOKEN_FIELDS = ("access_token_sealed", "refresh_token_sealed")


class ConnectionEventInline(admin.TabularInline[ConnectionEvent, KeapConnection]):
    model = ConnectionEvent
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "at", "actor", "detail")

    def has_add_permission(self, request: HttpRequest, obj: KeapConnection | None = None) -> bool:
        return False  # the audit trail is written by the flows, not by hand


def _run(
    request: HttpRequest,
    queryset: QuerySet[KeapConnection],
    action: Callable[..., actions.Outcome],
) -> None:
    for connection in queryset:
        outcome = action(connection=connection, actor=request.user)
        level = messages.SUCCESS if outcome.done else messages.WARNING
        messages.add_message(request, level, outcome.message)


@admin.register(KeapConnection)
class KeapConnectionAdmin(admin.ModelAdmin[KeapConnection]):
    """Connections for staff. The sealed token columns are never shown or editable.

    The status changes only through the actions (pause, resume), which record who did it.
    """

    list_display = (
        "app_name", "business_name", "owner", "developer_app", "status", "connected_at",
        "access_expires_at",
    )  # fmt: skip
    list_filter = ("status", "developer_app")
    list_select_related = ("owner", "developer_app")
    search_fields = ("app_name", "business_name", "owner__email", "keap_user_email")
    exclude = TOKEN_FIELDS
    readonly_fields = (
        "owner", "developer_app", "app_name", "status", "scope", "keap_user_email",
        "keap_user_id", "access_expires_at", "refresh_token_issued_at", "refresh_retry_after",
        "connected_at", "disconnected_at", "created_at", "updated_at",
    )  # fmt: skip
    inlines = (ConnectionEventInline,)
    actions = ("pause", "resume", "force_sync", "force_refresh")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # connections are made by their owners through Keap's consent page

    @admin.action(description="Pause (no syncs, goals or keep-alive until resumed)")
    def pause(self, request: HttpRequest, queryset: QuerySet[KeapConnection]) -> None:
        _run(request, queryset, actions.pause)

    @admin.action(description="Resume paused connections")
    def resume(self, request: HttpRequest, queryset: QuerySet[KeapConnection]) -> None:
        _run(request, queryset, actions.resume)

    @admin.action(description="Force an incremental sync now")
    def force_sync(self, request: HttpRequest, queryset: QuerySet[KeapConnection]) -> None:
        _run(request, queryset, actions.force_sync)

    @admin.action(description="Force a token refresh now")
    def force_refresh(self, request: HttpRequest, queryset: QuerySet[KeapConnection]) -> None:
        _run(request, queryset, actions.force_refresh)


@admin.register(ConnectionEvent)
class ConnectionEventAdmin(ReadOnlyAdmin):
    """The audit trail, read-only."""

    list_display = ("at", "connection", "kind", "actor", "detail")
    list_filter = ("kind",)
    list_select_related = ("connection", "actor")
    search_fields = ("connection__app_name", "detail", "actor__email")
    readonly_fields = ("connection", "kind", "at", "actor", "detail")
