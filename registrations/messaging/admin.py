"""Admin of the outbox: every message, its status and errors, and "send again".

What a message said (bodies, context, attachments) needs ``view_email_body``
(``docs/architecture.md``, "Security and privacy"): without it the page shows the envelope only, and
no lookup or search reads the bodies. The bodies are stored with personal links redacted
(``outbox.redact_secrets``) and are shown through the same redaction, so no page of the email log
holds a working attendee link."""

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from registrations import roles

from . import outbox
from .models import OutboundEmail

ENVELOPE_FIELDS = [
    "kind", "status", "subject", "to_email", "to_name", "registration", "batch", "dedupe_key",
    "template", "attempts", "next_attempt_at", "sending_started_at", "sent_at", "last_error",
    "provider_message_id", "body_removed_at", "created_at", "updated_at",
]  # fmt: skip
BODY_FIELDS = ["text_shown", "html_shown", "context_shown", "attachments_shown"]
# Stored fields that hold what the message said.
STORED_BODY_FIELDS = frozenset({"text_body", "html_body", "context", "attachments"})


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "to_email", "status", "attempts", "sent_at", "subject"]
    list_filter = ["status", "kind"]
    search_fields = ["to_email", "to_name", "dedupe_key"]
    date_hierarchy = "created_at"
    actions = ["send_again"]
    list_select_related = ["registration"]

    def may_read_bodies(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.VIEW_EMAIL_BODY)

    def get_fields(self, request: HttpRequest, obj: OutboundEmail | None = None) -> list:
        if self.may_read_bodies(request):
            return [*ENVELOPE_FIELDS, *BODY_FIELDS]
        return list(ENVELOPE_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj: OutboundEmail | None = None) -> list:
        return self.get_fields(request, obj)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        field = lookup.split("__", 1)[0]
        if field in STORED_BODY_FIELDS and not self.may_read_bodies(request):
            return False
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboundEmail | None = None) -> bool:
        return False

    @admin.display(description="Text")
    def text_shown(self, email: OutboundEmail) -> str:
        return format_html("<pre>{}</pre>", outbox.redact_secrets(email.text_body))

    @admin.display(description="HTML (source)")
    def html_shown(self, email: OutboundEmail) -> str:
        return format_html("<pre>{}</pre>", outbox.redact_secrets(email.html_body))

    @admin.display(description="Context")
    def context_shown(self, email: OutboundEmail) -> str:
        shown = outbox.redact_value(email.context)
        return format_html("<pre>{}</pre>", json.dumps(shown, indent=2, ensure_ascii=False))

    @admin.display(description="Attachments")
    def attachments_shown(self, email: OutboundEmail) -> str:
        shown = outbox.redact_value(email.attachments)
        return format_html("<pre>{}</pre>", json.dumps(shown, indent=2, ensure_ascii=False))

    @admin.action(description="Send selected failed messages again", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        requeued = sum(outbox.email_resend(email) for email in queryset)
        skipped = queryset.count() - requeued
        self.message_user(request, f"{requeued} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} message(s) were not failed and were left alone.", messages.INFO
            )
