"""Refunds: the course's refund policy (the single source of the rules and their wording) and
issuing refunds through Stripe, recorded and idempotent."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from courses.models import Course, Offering

from . import payments
from .models import Payment, Refund, RefundPolicy


def policy_for(course: Course) -> RefundPolicy:
    """The course's refund policy, created with the defaults (14 days full, then 50% until 3
    days before) the first time it is needed."""
    policy, _ = RefundPolicy.objects.get_or_create(course=course)
    return policy


def refundable_cents(payment: Payment, offering: Offering, now: datetime | None = None) -> int:
    """What the policy gives back if the attendee cancels at ``now``, in cents.

    Full amount (less anything already refunded) until ``full_refund_days`` before the first
    session; ``partial_refund_percent`` of the paid amount, rounded down to the cent, until
    ``partial_refund_days`` before; nothing after.
    """
    now = now or timezone.now()
    policy = policy_for(offering.course)
    sessions = offering.session_list
    if not sessions or payment.status != Payment.Status.PAID:
        return 0
    before = sessions[0].starts_at - now
    if before >= timedelta(days=policy.full_refund_days):
        amount = payment.amount_cents
    elif before >= timedelta(days=policy.partial_refund_days):
        amount = payment.amount_cents * policy.partial_refund_percent // 100
    else:
        amount = 0
    return max(0, min(amount, payment.refundable_cents))


def policy_text(policy: RefundPolicy) -> str:
    """The refund rules in plain English, for the terms page and the manage page."""
    full = policy.full_refund_days
    lines = [
        f"Cancel at least {full} day{'s' if full != 1 else ''} before the first session: "
        "full refund."
    ]
    if policy.partial_refund_percent and policy.partial_refund_days < full:
        lines.append(
            f"Cancel later, but at least {policy.partial_refund_days} day"
            f"{'s' if policy.partial_refund_days != 1 else ''} before the first session: "
            f"{policy.partial_refund_percent}% refund."
        )
        lines.append("Cancel after that: no refund.")
    else:
        lines.append("Cancel after that: no refund.")
    lines.append(
        "If we cannot confirm your eligibility, or we cancel a class, you get a full refund."
    )
    return "\n".join(lines)


def refund_request(
    *,
    payment: Payment,
    amount_cents: int,
    reason: str,
    staff_user: AbstractBaseUser | None = None,
    automatic: bool = False,
) -> Refund:
    """Record a refund to be issued (status pending) with its own idempotency key.

    Raises: ValueError when ``amount_cents`` is not between 1 and what is left to refund.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        pending = sum(r.amount_cents for r in payment.refunds.filter(status=Refund.Status.PENDING))
        left = payment.refundable_cents - pending
        if not 0 < amount_cents <= left:
            raise ValueError(
                f"A refund must be between $0.01 and ${left / 100:.2f} (what is left to refund)."
            )
        number = payment.refunds.count() + 1
        return Refund.objects.create(
            payment=payment,
            amount_cents=amount_cents,
            reason=reason,
            created_by=staff_user,
            automatic=automatic,
            idempotency_key=f"refund:{payment.pk}:{number}",
        )


def refund_execute(refund_id: int) -> Refund:
    """Issue a pending refund at Stripe and record the outcome. Idempotent: a refund that
    already succeeded is returned as is, and Stripe replays a retried request (same key).

    On success the payment's refunded total goes up (``settlement.refunded_total``), which
    moves a fully refunded registration to ``refunded``.

    Raises: PaymentProviderError when Stripe refuses (the refund is marked failed; nothing else
    changes).
    """
    from .settlement import refunded_total

    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status == Refund.Status.SUCCEEDED:
        return refund
    try:
        stripe_id = payments.refund_create(
            payment_intent_id=refund.payment.stripe_payment_intent_id,
            amount_cents=refund.amount_cents,
            idempotency_key=refund.idempotency_key,
            reason=refund.reason,
        )
    except payments.PaymentProviderError as exc:
        Refund.objects.filter(pk=refund.pk).update(
            status=Refund.Status.FAILED, error=exc.message, updated_at=timezone.now()
        )
        raise
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.status != Refund.Status.SUCCEEDED:
            refund.status, refund.stripe_refund_id, refund.error = (
                Refund.Status.SUCCEEDED,
                stripe_id,
                "",
            )
            refund.save(update_fields=["status", "stripe_refund_id", "error", "updated_at"])
            payment = refund.payment
            total = sum(
                r.amount_cents for r in payment.refunds.filter(status=Refund.Status.SUCCEEDED)
            )
            refunded_total(payment, total, refund=refund)
    return refund
