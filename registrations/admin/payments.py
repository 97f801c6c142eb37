"""Admin: payments (with their refunds and a CSV export for finance), refund policies and
Stripe's events."""

import csv
from collections.abc import Iterator

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from registrations.payments.models import Payment, Refund, RefundPolicy, WebhookEvent
from registrations.payments.policy import policy_text


@admin.register(RefundPolicy)
class RefundPolicyAdmin(admin.ModelAdmin):
    list_display = ["course", "full_refund_days", "partial_refund_percent", "partial_refund_days"]
    readonly_fields = ["wording"]

    @admin.display(description="As shown to attendees")
    def wording(self, policy: RefundPolicy) -> str:
        return policy_text(policy) if policy.pk else "—"


class _Echo:
    def write(self, value: str) -> str:
        return value


PAYMENT_CSV_HEADER = [
    "date (UTC)", "registration", "attendee", "email", "offering", "status", "amount",
    "currency", "refunded", "stripe_checkout_session_id", "stripe_payment_intent_id",
    "refund ids",
]  # fmt: skip


def payment_csv_rows(queryset: QuerySet[Payment]) -> Iterator[list]:
    """Rows for finance: one per payment, amounts in dollars with two decimals."""
    yield PAYMENT_CSV_HEADER
    for payment in queryset.select_related("registration__offering__course").prefetch_related(
        "refunds"
    ):
        registration = payment.registration
        yield [
            (payment.paid_at or payment.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            registration.pk,
            registration.full_name,
            registration.email,
            str(registration.offering),
            payment.status,
            f"{payment.amount_cents / 100:.2f}",
            payment.currency.upper(),
            f"{payment.amount_refunded_cents / 100:.2f}",
            payment.stripe_checkout_session_id or "",
            payment.stripe_payment_intent_id,
            " ".join(r.stripe_refund_id or "" for r in payment.refunds.all()).strip(),
        ]


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ["created_at", "amount_cents", "status", "automatic", "created_by", "reason",
              "stripe_refund_id", "error"]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "registration", "status", "amount", "refunded",
                    "stripe_checkout_session_id"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["stripe_checkout_session_id", "stripe_payment_intent_id",
                     "registration__email", "registration__last_name"]  # fmt: skip
    list_select_related = ["registration__offering__course"]
    readonly_fields = [f.name for f in Payment._meta.fields]
    inlines = [RefundInline]
    actions = ["export_csv"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, payment: Payment) -> str:
        return f"${payment.amount_cents / 100:,.2f}"

    @admin.display(description="Refunded", ordering="amount_refunded_cents")
    def refunded(self, payment: Payment) -> str:
        if not payment.amount_refunded_cents:
            return "—"
        whole = " (all)" if payment.amount_refunded_cents >= payment.amount_cents else ""
        return f"${payment.amount_refunded_cents / 100:,.2f}{whole}"

    @admin.action(description="Export selected payments and refunds as CSV")
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Payment]
    ) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in payment_csv_rows(queryset)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="citreg-payments.csv"'
        return response


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "type", "stripe_event_id", "processed_at", "deliveries"]
    list_filter = ["type"]
    search_fields = ["stripe_event_id"]
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
