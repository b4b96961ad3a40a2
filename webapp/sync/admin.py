from django.contrib import admin

from webapp.readonly_admin import ReadOnlyAdmin
from webapp.sync.models import SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
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
