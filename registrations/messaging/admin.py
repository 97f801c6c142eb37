"""Admin of the outbox: every message, its status and errors, and "send again"."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import outbox
from .models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "to_email", "status", "attempts", "sent_at", "subject"]
    list_filter = ["status", "kind"]
    search_fields = ["to_email", "to_name", "dedupe_key"]
    date_hierarchy = "created_at"
    actions = ["send_again"]
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboundEmail | None = None) -> bool:
        return False

    @admin.action(description="Send selected failed messages again", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        requeued = sum(outbox.email_resend(email) for email in queryset)
        skipped = queryset.count() - requeued
        self.message_user(request, f"{requeued} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} message(s) were not failed and were left alone.", messages.INFO
            )
