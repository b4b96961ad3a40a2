from django.contrib import admin
from django.http import HttpRequest

from webapp.sync.models import SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """Sync runs, read-only: they are started by the flows (or the connection admin's action)."""

    list_display = (
        "pk", "connection", "kind", "status", "fetched", "created", "updated", "deleted",
        "errors", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("status", "kind")
    list_select_related = ("connection",)
    search_fields = ("connection__app_name", "error")
    fields = (
        "connection", "kind", "status", "fetched", "created", "updated", "unchanged", "skipped",
        "deleted", "pages", "errors", "skipped_reasons", "retries", "since", "watermark",
        "total_estimate", "heartbeat_at", "due_at", "cancel_requested", "error", "created_at",
        "started_at", "finished_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
