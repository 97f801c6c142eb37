"""The refund ledger: what each payment has had refunded, from our refunds and from Stripe's
``charge.refunded`` (a refund made in Stripe's dashboard), and what a fully refunded place
becomes. Also the payment's lock sequence (offering, payment, registration)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, cast

from django.db import transaction
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from courses.models import Offering
from registrations.enums import COUNTED_REFUND_STATUSES
from registrations.enums import RegistrationState as S
from registrations.locking import lock_rows
from registrations.messaging import notices
from registrations.models import Registration
from registrations.seats import booking
from registrations.transitions import Actor, registration_note, registration_transition

from .models import Payment, Refund

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


@dataclass(frozen=True)
class PaymentRows:
    """The rows of one payment's settlement, locked in the lock order."""

    offering: Offering
    payment: Payment
    registration: Registration


def lock_payment(payment_id: int) -> PaymentRows:
    """Lock a payment's offering, the payment and its registration, in that order, inside the
    caller's transaction (``registrations.locking``).

    Raises: LockOutsideTransaction; Payment.DoesNotExist.
    """
    registration_id, offering_id = (
        Payment.objects.filter(pk=payment_id)
        .values_list("registration_id", "registration__offering_id")
        .get()
    )
    locked = lock_rows(
        offering_id=offering_id, payment_id=payment_id, registration_id=registration_id
    )
    assert locked.offering is not None and locked.registration is not None
    return PaymentRows(locked.offering, cast(Payment, locked.payment), locked.registration)


def kept_cents(registration: Registration) -> int:
    """What the registration has paid and not been refunded, over all its payments (cents).
    ``with_money_totals`` is the same rule for a list."""
    return sum(
        payment.amount_cents - payment.amount_refunded_cents
        for payment in Payment.objects.filter(registration=registration, status=Payment.Status.PAID)
    )


def refunded_total(payment: Payment, total_cents: int) -> None:
    """Record that ``total_cents`` of ``payment`` have been refunded in all (from our own refund
    or from ``charge.refunded``, e.g. a refund made in Stripe's dashboard). Never lowers the
    total and never exceeds the payment. When nothing the registration paid is left (over all
    its payments: refunding a duplicate payment does not end a paid place), a confirmed (or
    late-paid expired) registration moves to ``refunded`` and its seat is offered on; a partial
    refund keeps state and seat."""
    with transaction.atomic():
        rows = lock_payment(payment.pk)
        payment, registration = rows.payment, rows.registration
        total_cents = min(total_cents, payment.amount_cents)
        if total_cents <= payment.amount_refunded_cents:
            return
        added = total_cents - payment.amount_refunded_cents
        payment.amount_refunded_cents = total_cents
        payment.save(update_fields=["amount_refunded_cents", "updated_at"])
        # Our own refunds count from the moment they are requested: Stripe's charge.refunded
        # can arrive before refund_execute has recorded its success.
        ours = payment.refunds.filter(status__in=COUNTED_REFUND_STATUSES)
        recorded = sum(r.amount_cents for r in ours)
        if recorded < total_cents:  # Refunded outside citreg (Stripe's dashboard): record it.
            Refund.objects.create(
                payment=payment,
                amount_cents=total_cents - recorded,
                status=Refund.Status.SUCCEEDED,
                reason="Refunded in Stripe.",
                idempotency_key=f"external:{payment.pk}:{total_cents}",
            )
        if registration.state in (S.CONFIRMED, S.EXPIRED) and kept_cents(registration) == 0:
            was_confirmed = registration.state == S.CONFIRMED
            registration_transition(
                registration_id=registration.pk,
                to_state=S.REFUNDED,
                actor=Actor.system(),
                reason=f"Refunded in full (${total_cents / 100:.2f}).",
            )
            booking.offer_free_seats(registration.offering_id)
            if was_confirmed:
                notices.send_place_ended(
                    registration,
                    reason=f"Your payment of ${total_cents / 100:,.2f} has been refunded in full, "
                    "so your place in the class has ended.",
                )
        else:
            registration_note(
                registration,
                actor=Actor.system(),
                reason=f"Refund of ${added / 100:.2f} recorded (${total_cents / 100:.2f} of "
                f"${payment.amount_cents / 100:.2f} of payment {payment.pk} refunded).",
            )
        automatic = payment.refunds.filter(automatic=True).exists()
        if not automatic:  # automatic refunds were announced when they were decided
            notices.send_refund_issued(
                registration,
                payment_id=payment.pk,
                paid_cents=payment.amount_cents,
                total_cents=total_cents,
            )


def _paid_sum(column: str) -> Coalesce:
    paid = (
        Payment.objects.filter(registration=OuterRef("pk"), status=Payment.Status.PAID)
        .order_by()
        .values("registration")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Coalesce(Subquery(paid, output_field=IntegerField()), Value(0))


class MoneyTotals(TypedDict):
    """The annotations of ``with_money_totals`` (integer cents)."""

    paid_cents: int
    refunded_cents: int


def with_money_totals(
    queryset: QuerySet[Registration],
) -> "QuerySet[WithAnnotations[Registration, MoneyTotals]]":
    """Annotate registrations with ``paid_cents`` (the amounts of their paid payments) and
    ``refunded_cents`` (what has been refunded of those), integers in cents, 0 when none; one
    subquery each, so a list of any length stays one query. ``paid_cents - refunded_cents`` is
    ``kept_cents``."""
    annotated = queryset.annotate(
        paid_cents=_paid_sum("amount_cents"), refunded_cents=_paid_sum("amount_refunded_cents")
    )
    return cast("QuerySet[WithAnnotations[Registration, MoneyTotals]]", annotated)
