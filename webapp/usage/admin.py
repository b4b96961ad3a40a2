from django.contrib import admin
from django.http import HttpRequest

from webapp.usage.models import COUNTER_FIELDS, LatestQuota, UsageDay, UsageMinute


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rollups are written by the usage flush only; staff look, never edit."""

    # Minute rollups grow by the million: no COUNT(*) of the whole table on every changelist.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


_KEY = ("app", "tenant", "connection_id", "operation", "lane")


@admin.register(UsageDay)
class UsageDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "tenant", "connection_id", "operation", "lane", "calls", "errors",
                    "throttled", "responses_429")  # fmt: skip
    list_filter = ("lane",)
    search_fields = ("tenant", "operation", "app")
    fields = ("day", *_KEY, *COUNTER_FIELDS, "latency_max_ms")
    readonly_fields = fields
    ordering = ("-day",)


@admin.register(UsageMinute)
class UsageMinuteAdmin(ReadOnlyAdmin):
    list_display = ("minute", "tenant", "connection_id", "operation", "lane", "calls", "errors",
                    "throttled", "responses_429")  # fmt: skip
    list_filter = ("lane",)
    search_fields = ("tenant", "operation", "app")
    fields = ("minute", *_KEY, *COUNTER_FIELDS, "latency_max_ms")
    readonly_fields = fields
    ordering = ("-minute",)


@admin.register(LatestQuota)
class LatestQuotaAdmin(ReadOnlyAdmin):
    list_display = ("app", "tenant", "seen_at")
    search_fields = ("app", "tenant")
    fields = ("app", "tenant", "headers", "seen_at")
    readonly_fields = fields
