from typing import ClassVar

from django.contrib import admin

from webapp.readonly_admin import ReadOnlyAdmin
from webapp.usage.models import COUNTER_FIELDS, LatestQuota, UsageDay, UsageMinute


class RollupAdmin(ReadOnlyAdmin):
    """Rollups are written by the usage flush only."""

    # Minute rollups grow by the million: no COUNT(*) of the whole table on every changelist.
    show_full_result_count = False


_KEY = ("app", "tenant", "connection_id", "operation", "lane")


@admin.register(UsageDay)
class UsageDayAdmin(RollupAdmin):
    list_display = ("day", "tenant", "connection_id", "operation", "lane", "calls", "errors",
                    "throttled", "responses_429")  # fmt: skip
    list_filter = ("lane",)
    search_fields = ("tenant", "operation", "app")
    fields: ClassVar[tuple[str, ...]] = ("day", *_KEY, *COUNTER_FIELDS, "latency_max_ms")
    readonly_fields = fields
    ordering = ("-day",)


@admin.register(UsageMinute)
class UsageMinuteAdmin(RollupAdmin):
    list_display = ("minute", "tenant", "connection_id", "operation", "lane", "calls", "errors",
                    "throttled", "responses_429")  # fmt: skip
    list_filter = ("lane",)
    search_fields = ("tenant", "operation", "app")
    fields: ClassVar[tuple[str, ...]] = ("minute", *_KEY, *COUNTER_FIELDS, "latency_max_ms")
    readonly_fields = fields
    ordering = ("-minute",)


@admin.register(LatestQuota)
class LatestQuotaAdmin(RollupAdmin):
    list_display = ("app", "tenant", "seen_at")
    search_fields = ("app", "tenant")
    fields = ("app", "tenant", "headers", "seen_at")
    readonly_fields = fields
