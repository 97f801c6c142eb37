"""The staff refund form of the "Cancel and refund" and "Refund (keep the seat)" actions: one
line per selected registration with what was paid, what was already refunded, what the course's
refund policy gives today and the rule that applies (``payments.policy.refund_quote``), and an
amount that defaults to the policy's and may be lowered, or raised up to what is refundable."""

from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.db.models import QuerySet

from courses.text import MultiLineField
from registrations.models import Registration
from registrations.payments import cancellation, policy
from registrations.payments.models import Payment

from .display import money


@dataclass(frozen=True)
class QuoteLine:
    """One selected registration, the payment a refund would go back to, and its quote."""

    registration: Registration
    payment: Payment | None
    quote: policy.RefundQuote

    @property
    def field_name(self) -> str:
        return f"amount-{self.registration.pk}"

    @property
    def paid(self) -> str:
        return money(self.quote.paid_cents)

    @property
    def refunded(self) -> str:
        pending = self.quote.pending_cents
        return money(self.quote.refunded_cents) + (
            f" (+{money(pending)} pending)" if pending else ""
        )

    @property
    def refundable(self) -> str:
        return money(self.quote.refundable_cents)

    @property
    def policy_amount(self) -> str:
        return money(self.quote.policy_cents)


def quote_lines(queryset: QuerySet[Registration]) -> list[QuoteLine]:
    """The quote of each registration of ``queryset``, in name order."""
    lines = []
    registrations = queryset.select_related("offering__course").prefetch_related(
        "offering__sessions"
    )
    for registration in registrations.order_by("last_name", "first_name", "pk"):
        payment = cancellation.paid_payment(registration)
        lines.append(
            QuoteLine(registration, payment, policy.refund_quote(payment, registration.offering))
        )
    return lines


def _dollars(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


class StaffRefundForm(forms.Form):
    """A reason, and for every line with something refundable an amount in dollars: blank or
    missing means the policy's amount (the field's initial value); 0 means no refund; more than
    what is refundable is refused beside the field."""

    reason = MultiLineField(widget=forms.Textarea(attrs={"rows": 3}), label="Reason")

    def __init__(self, data: object = None, *, lines: list[QuoteLine]) -> None:
        super().__init__(data)
        self.lines = lines
        for line in lines:
            if line.quote.refundable_cents <= 0:
                continue
            self.fields[line.field_name] = forms.DecimalField(
                required=False,
                min_value=Decimal("0"),
                max_value=_dollars(line.quote.refundable_cents),
                decimal_places=2,
                max_digits=9,
                initial=_dollars(line.quote.policy_cents),
                label=f"Refund to {line.registration.full_name} (USD)",
                help_text=f"Policy today: {line.policy_amount}; at most {line.refundable}.",
            )

    def amount_cents(self, line: QuoteLine) -> int:
        """The amount staff chose for ``line``, in integer cents (after ``is_valid``)."""
        if line.field_name not in self.fields:
            return 0
        value = self.cleaned_data.get(line.field_name)
        if value is None:
            return line.quote.policy_cents
        return int((value * 100).to_integral_value())

    def line_fields(self) -> list[tuple[QuoteLine, forms.BoundField | None]]:
        """Each line with its amount field (None when nothing is refundable), for the template."""
        return [
            (line, self[line.field_name] if line.field_name in self.fields else None)
            for line in self.lines
        ]
