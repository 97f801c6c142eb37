"""Admin: payments (with their refunds and a CSV export for finance), refunds, refund policies
and Stripe's events.

Stripe's Checkout URL is a bearer link (whoever holds it can pay, and sees the attendee's
email on Stripe's page), so no page shows it; nor the nonce and idempotency key citreg sends
Stripe. Webhook events are the replay protection: nobody, superusers included, deletes them
here, and their payloads are shown with personal links redacted.
"""

import json
from collections.abc import Iterator

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.html import format_html

from courses.admin import HistoryAdmin
from registrations import roles
from registrations.messaging.outbox import redact_value
from registrations.models import StaffAccess
from registrations.payments.models import Payment, Refund, RefundPolicy, WebhookEvent
from registrations.payments.policy import policy_text

from .display import moment, money
from .guards import ReadOnlyAdmin, RegistrationFieldGuard, recorded_export

# Payment fields no admin page shows (above).
PAYMENT_SECRET_FIELDS = frozenset({"checkout_url", "nonce", "idempotency_key"})


@admin.register(RefundPolicy)
class RefundPolicyAdmin(admin.ModelAdmin):
    list_display = ["course", "full_refund_days", "partial_refund_percent", "partial_refund_days"]
    readonly_fields = ["wording"]

    @admin.display(description="As shown to attendees")
    def wording(self, policy: RefundPolicy) -> str:
        return policy_text(policy) if policy.pk else "—"


PAYMENT_CSV_HEADER = [
    "date (UTC)", "registration", "attendee", "agency", "offering", "status", "amount",
    "currency", "refunded", "stripe_checkout_session_id", "stripe_payment_intent_id",
    "refund ids",
]  # fmt: skip


def payment_csv_rows(queryset: QuerySet[Payment]) -> Iterator[list]:
    """Rows for finance: one per payment, amounts in dollars with two decimals. The attendee is
    named with their agency (what finance sees of a registration, ``registrations.roles``)."""
    yield PAYMENT_CSV_HEADER
    for payment in queryset.select_related("registration__offering__course").prefetch_related(
        "refunds"
    ):
        registration = payment.registration
        yield [
            (payment.paid_at or payment.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            registration.pk,
            registration.full_name,
            registration.employer_name,
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
    fields = ["created", "amount", "status", "automatic", "created_by", "reason",
              "stripe_refund_id", "error"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Created")
    def created(self, refund: Refund) -> str:
        return moment(refund.created_at)

    @admin.display(description="Amount")
    def amount(self, refund: Refund) -> str:
        return money(refund.amount_cents)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(RegistrationFieldGuard, HistoryAdmin):
    registration_path = "registration__"
    list_display = ["created", "registration", "status", "amount", "refunded",
                    "stripe_checkout_session_id"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["stripe_checkout_session_id", "stripe_payment_intent_id",
                     "registration__email", "registration__last_name"]  # fmt: skip
    list_select_related = ["registration__offering__course"]
    # Money in dollars: the cents columns are shown by ``amount`` and ``refunded``.
    fields = [
        {"amount_cents": "amount", "amount_refunded_cents": "refunded"}.get(f.name, f.name)
        for f in Payment._meta.fields
        if f.name not in PAYMENT_SECRET_FIELDS
    ]
    readonly_fields = fields
    inlines = [RefundInline]
    actions = ["export_csv"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.split("__", 1)[0] in PAYMENT_SECRET_FIELDS:
            return False
        return super().lookup_allowed(lookup, value, request)

    def history_hidden_fields(self, request: HttpRequest) -> set[str]:
        return set(PAYMENT_SECRET_FIELDS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_export_roster_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.EXPORT_ROSTER)

    @admin.display(description="Created", ordering="created_at")
    def created(self, payment: Payment) -> str:
        return moment(payment.created_at)

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, payment: Payment) -> str:
        return money(payment.amount_cents)

    @admin.display(description="Refunded", ordering="amount_refunded_cents")
    def refunded(self, payment: Payment) -> str:
        if not payment.amount_refunded_cents:
            return "—"
        whole = " (all)" if payment.amount_refunded_cents >= payment.amount_cents else ""
        return f"{money(payment.amount_refunded_cents)}{whole}"

    @admin.action(
        description="Export selected payments and refunds as CSV", permissions=["export_roster"]
    )
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Payment]
    ) -> StreamingHttpResponse:
        """The finance export (it names attendees, so it needs ``export_roster``); recorded."""
        return recorded_export(
            request, StaffAccess.Action.PAYMENT_EXPORT, queryset,
            payment_csv_rows(queryset), "citreg-payments.csv",
        )  # fmt: skip


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin, HistoryAdmin):
    """Refunds, read-only (they are made by the refund actions and Stripe), with history."""

    list_display = ["created", "payment", "amount", "status", "automatic", "created_by"]
    list_filter = ["status", "automatic"]
    list_select_related = ["payment__registration__offering__course", "created_by"]
    fields = [
        "amount" if f.name == "amount_cents" else f.name
        for f in Refund._meta.fields
        if f.name != "idempotency_key"
    ]
    readonly_fields = fields

    def history_hidden_fields(self, request: HttpRequest) -> set[str]:
        return {"idempotency_key"}

    @admin.display(description="Created", ordering="created_at")
    def created(self, refund: Refund) -> str:
        return moment(refund.created_at)

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, refund: Refund) -> str:
        return money(refund.amount_cents)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Stripe's events as received: read-only, never deleted here (a deleted event could be
    replayed), the payload with personal links redacted."""

    list_display = ["received_at", "type", "outcome", "stripe_event_id", "processed_at",
                    "deliveries"]  # fmt: skip
    list_filter = ["outcome", "type"]
    search_fields = ["stripe_event_id"]
    fields = [
        "stripe_event_id", "type", "outcome", "detail", "received_at", "processed_at",
        "deliveries", "payload_removed_at", "payload_shown",
    ]  # fmt: skip
    readonly_fields = fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.split("__", 1)[0] == "payload":
            return False  # the payload is shown redacted; no lookup reads the stored one
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="Payload")
    def payload_shown(self, event: WebhookEvent) -> str:
        if event.payload_removed_at:
            return "(removed after the retention period)"
        text = json.dumps(redacted_payload(event.payload), indent=2, sort_keys=True)
        return format_html("<pre>{}</pre>", text)


def redacted_payload(value: object) -> object:
    """A webhook payload as staff see it: personal links redacted (``outbox.redact_value``) and
    any ``url`` (a Checkout Session's payment page, a bearer link) replaced."""
    if isinstance(value, dict):
        return {
            key: "[checkout link]" if key == "url" and item else redacted_payload(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redacted_payload(item) for item in value]
    return redact_value(value)
