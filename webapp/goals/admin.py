from django.contrib import admin
from django.http import HttpRequest

from webapp.goals.models import ApiKey, GoalCompletion


@admin.register(GoalCompletion)
class GoalCompletionAdmin(admin.ModelAdmin[GoalCompletion]):
    list_display = (
        "pk", "connection", "contact_id", "integration", "call_name", "api", "status",
        "attempts", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("status", "api")
    search_fields = ("connection__app_name", "call_name", "integration", "idempotency_key")
    list_select_related = ("connection",)
    raw_id_fields = ("connection", "requested_by", "requested_with_key")
    readonly_fields = (
        "connection", "contact_id", "integration", "call_name", "api", "idempotency_key",
        "requested_by", "requested_with_key", "status", "attempts", "answer", "results", "error",
        "next_attempt_at", "claimed_at", "created_at", "updated_at", "finished_at",
    )  # fmt: skip
    fields = readonly_fields

    @admin.display(description="Keap's answer")
    def answer(self, obj: GoalCompletion) -> str:
        return obj.answer

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # completions are requested through the flow, which queues them


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    # The digest is never shown: it is neither listed nor among the fields.
    list_display = ("name", "shown_prefix", "owner", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "owner__email")
    readonly_fields = ("owner", "shown_prefix", "created_at", "last_used_at")
    fields = ("owner", "name", "shown_prefix", "created_at", "last_used_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued by their owner, who sees the value once
