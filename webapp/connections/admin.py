from django.contrib import admin

from webapp.connections.models import ConnectionEvent, KeapConnection


class ConnectionEventInline(admin.TabularInline):
    model = ConnectionEvent
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "at", "actor", "detail")


@admin.register(KeapConnection)
class KeapConnectionAdmin(admin.ModelAdmin):
    """Connections for staff. The sealed token columns are never shown or editable."""

    list_display = (
        "app_name",
        "business_name",
        "owner",
        "status",
        "connected_at",
        "access_expires_at",
    )
    list_filter = ("status",)
    search_fields = ("app_name", "business_name", "owner__email", "keap_user_email")
    exclude = ("access_token_sealed", "refresh_token_sealed")
    readonly_fields = (
        "owner",
        "app_name",
        "scope",
        "keap_user_email",
        "keap_user_id",
        "access_expires_at",
        "refresh_token_issued_at",
        "connected_at",
        "disconnected_at",
        "created_at",
        "updated_at",
    )
    inlines = (ConnectionEventInline,)


@admin.register(ConnectionEvent)
class ConnectionEventAdmin(admin.ModelAdmin):
    list_display = ("connection", "kind", "at", "actor")
    list_filter = ("kind",)
    readonly_fields = ("connection", "kind", "at", "actor", "detail")
